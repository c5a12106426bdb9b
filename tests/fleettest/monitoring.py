"""What monitoring leaves on a host of the fleet: nothing, once the fleet has no monitor host.

Used by the monitoring-off scenario (nothing was ever installed) and by the test that empties the monitor group of a
monitored fleet (everything an earlier run installed is gone).
"""

# Ports of Prometheus, the node exporter, RabbitMQ's exporter, Flower over HTTPS and Flower itself.
MONITORING_PORTS = (":9090", ":9100", ":15692", ":15691", ":5555", ":5556")
MONITORING_PACKAGES = ("prometheus", "prometheus-node-exporter", "nginx", "nginx-common")
# Every file or directory the monitoring roles write outside their packages.
MONITORING_PATHS = (
    "/etc/prometheus/celery-fleet-node-exporter.nft",
    "/etc/prometheus/rules",
    "/etc/systemd/system/node-exporter-firewall.service",
    "/etc/systemd/system/prometheus-node-exporter.service.d",
    "/etc/systemd/system/prometheus.service.d",
    "/etc/systemd/system/flower.service",
    "/etc/systemd/system/nginx.service.d",
    "/etc/celery-fleet/flower",
    "/opt/celery-fleet-flower",
)
MONITORING_UNITS = ("prometheus", "prometheus-node-exporter", "node-exporter-firewall", "flower", "nginx")


def monitoring_leftovers(host):
    """What of monitoring ``host`` (a testinfra host) still has: packages, listening ports, files, units, the
    flower user, the exporter's nftables table, task events in a worker unit, RabbitMQ's exporter plugin."""
    found = [f"package {name}" for name in MONITORING_PACKAGES if host.package(name).is_installed]
    listening = host.socket.get_listening_sockets()
    found += [f"listening {socket}" for socket in listening if socket.endswith(MONITORING_PORTS)]
    found += [f"file {path}" for path in MONITORING_PATHS if host.file(path).exists]
    for unit in MONITORING_UNITS:
        load_state = host.check_output(f"systemctl show --property LoadState --value {unit}.service")
        if load_state != "not-found":
            found.append(f"unit {unit}.service ({load_state})")
    if host.user("flower").exists:
        found.append("user flower")
    if host.run("nft list table inet celery_fleet_node_exporter").rc == 0:
        found.append("nftables table celery_fleet_node_exporter")
    # Workers send no task events (Flower's) without a monitor host.
    units = [unit for unit in host.file("/etc/systemd/system").listdir() if unit.startswith("celery-worker-")]
    found += [
        f"--task-events in {unit}"
        for unit in units
        if "--task-events" in host.file(f"/etc/systemd/system/{unit}").content_string
    ]
    # RabbitMQ, where it runs, has not its exporter plugin on.
    plugins = host.file("/etc/rabbitmq/enabled_plugins")
    if plugins.exists and "rabbitmq_prometheus" in plugins.content_string:
        found.append("rabbitmq_prometheus in /etc/rabbitmq/enabled_plugins")
    return found
