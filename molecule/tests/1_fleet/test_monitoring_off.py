"""Monitoring off (the scenario has no monitor host, fleet_monitor_group empty): nothing of it is installed."""

import pytest
import testinfra
from fleettest.scenario import FLEET_HOSTS, MONITOR

pytestmark = pytest.mark.skipif(MONITOR is not None, reason="the scenario has a monitor host (test_monitoring.py)")


@pytest.mark.parametrize("name", FLEET_HOSTS)
def test_no_exporter_and_no_prometheus_on_any_host(name):
    host = testinfra.get_host(f"podman://{name}")
    for package in ("prometheus", "prometheus-node-exporter"):
        assert not host.package(package).is_installed, f"{package} on {name}"
    listening = host.socket.get_listening_sockets()
    assert [s for s in listening if s.endswith((":9090", ":9100", ":15692"))] == [], listening
    assert not host.file("/etc/prometheus/celery-fleet-node-exporter.nft").exists
    # RabbitMQ, where it runs, has not its exporter plugin on.
    plugins = host.file("/etc/rabbitmq/enabled_plugins")
    if plugins.exists:
        assert "rabbitmq_prometheus" not in plugins.content_string
