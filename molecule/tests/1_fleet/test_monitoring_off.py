"""Monitoring off (the scenario has no monitor host, fleet_monitor_group empty): nothing of it is installed, and
the workers send no task events."""

import pytest
import testinfra
from fleettest.scenario import FLEET_HOSTS, MONITOR

pytestmark = pytest.mark.skipif(MONITOR is not None, reason="the scenario has a monitor host (test_monitoring.py)")


@pytest.mark.parametrize("name", FLEET_HOSTS)
def test_no_exporter_no_prometheus_and_no_flower_on_any_host(name):
    host = testinfra.get_host(f"podman://{name}")
    for package in ("prometheus", "prometheus-node-exporter", "nginx"):
        assert not host.package(package).is_installed, f"{package} on {name}"
    listening = host.socket.get_listening_sockets()
    assert [s for s in listening if s.endswith((":9090", ":9100", ":15692", ":5555", ":5556"))] == [], listening
    assert not host.file("/etc/prometheus/celery-fleet-node-exporter.nft").exists
    assert not host.file("/etc/systemd/system/flower.service").exists
    # Workers send no task events (Flower's) without a monitor host.
    for unit in host.file("/etc/systemd/system").listdir():
        if unit.startswith("celery-worker-"):
            assert "--task-events" not in host.file(f"/etc/systemd/system/{unit}").content_string
    # RabbitMQ, where it runs, has not its exporter plugin on.
    plugins = host.file("/etc/rabbitmq/enabled_plugins")
    if plugins.exists:
        assert "rabbitmq_prometheus" not in plugins.content_string
