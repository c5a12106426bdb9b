"""Monitoring off (the scenario has no monitor host, fleet_monitor_group empty): nothing of it is installed, and
the workers send no task events."""

import pytest
import testinfra
from fleettest.monitoring import monitoring_leftovers
from fleettest.scenario import FLEET_HOSTS, MONITOR

pytestmark = pytest.mark.skipif(MONITOR is not None, reason="the scenario has a monitor host (test_monitoring.py)")


@pytest.mark.parametrize("name", FLEET_HOSTS)
def test_no_exporter_no_prometheus_and_no_flower_on_any_host(name):
    assert monitoring_leftovers(testinfra.get_host(f"podman://{name}")) == []
