"""Monitoring (the scenario's monitor host): Prometheus there scrapes every host's node exporter and RabbitMQ's own
exporter, loads the fleet's alert rules, and listens on loopback; the exporters answer the monitor host alone."""

import json
import shlex

import pytest
import testinfra
from fleettest.sandbox import OK_EXPOSURE, exposure
from fleettest.scenario import BROKERS, CLUSTER, FLEET, FLEET_HOSTS, MONITOR, cluster_only, monitoring_only
from fleettest.wait import wait_for

pytestmark = monitoring_only

# What the monitor host runs a command with: the containers have Python, not curl.
_GET = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
_CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()"


def _get(host, url):
    return host.check_output(f"python3 -c {shlex.quote(_GET)} {shlex.quote(url)}")


def _prometheus(host, path):
    return json.loads(_get(host, f"http://127.0.0.1:9090{path}"))["data"]


def _connect(host, address, port):
    """How a TCP connection from ``host`` to ``address:port`` ends: "connected", or the error's name."""
    result = host.run(f"python3 -c {shlex.quote(_CONNECT)} {address} {port}")
    if result.rc == 0:
        return "connected"
    return result.stderr.strip().splitlines()[-1].split(":")[0]


@pytest.fixture(scope="module")
def monitor_host():
    """The monitor host (conftest's ``monitor`` is the Celery app of the monitoring identity)."""
    return testinfra.get_host(f"podman://{MONITOR}")


def _task_queues():
    return {queue for group in FLEET["fleet_worker_groups"].values() for queue in group["queues"]}


def test_prometheus_scrapes_every_host_and_broker_node(monitor_host):
    expected = (
        {("prometheus", MONITOR), ("flower", MONITOR)}
        | {("node", host) for host in FLEET_HOSTS}
        | {(job, node) for job in ("rabbitmq", "rabbitmq_queues") for node in BROKERS}
    )

    def targets():
        active = _prometheus(monitor_host, "/api/v1/targets?state=active")["activeTargets"]
        return {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in active}

    # A target's first scrape comes within one scrape interval (15 s) of Prometheus loading it.
    wait_for(
        lambda: set(targets()) == expected and set(targets().values()) == {"up"},
        timeout=60,
        what=lambda: f"every target up: {targets()}",
    )
    assert targets() == dict.fromkeys(expected, "up")


def test_the_task_queues_and_their_consumers_are_seen_and_no_other_queue(monitor_host):
    def consumers():
        result = _prometheus(monitor_host, "/api/v1/query?query=rabbitmq_detailed_queue_consumers")["result"]
        return {r["metric"]["queue"]: float(r["value"][1]) for r in result}

    # Every task queue is consumed (reply and control queues were dropped by the scrape's relabelling). A wait, not a
    # single look: Prometheus holds its last scrape (15 s apart), and an earlier test (test_flower_browser) stops and
    # starts worker2's io worker, so the last sample can still show the io queue with no consumer.
    wait_for(
        lambda: set(consumers()) == _task_queues() and all(count >= 1 for count in consumers().values()),
        timeout=60,
        what=lambda: f"every task queue consumed: {consumers()}",
    )


@cluster_only
def test_every_member_of_each_task_queue_is_seen(monitor_host):
    """The figure RabbitMQQuorumQueueMemberMissing counts: one Raft series per member, from each member's node."""

    def members():
        query = "count by (queue) (rabbitmq_detailed_raft_term_total)"
        result = _prometheus(monitor_host, f"/api/v1/query?query={query.replace(' ', '%20')}")["result"]
        return {r["metric"]["queue"]: int(r["value"][1]) for r in result}

    expected = dict.fromkeys(_task_queues(), len(BROKERS))
    wait_for(lambda: members() == expected, timeout=60, what=lambda: f"{expected}, seen {members()}")


def test_the_fleet_alert_rules_are_loaded_and_none_fires_on_a_healthy_fleet(monitor_host):
    groups = _prometheus(monitor_host, "/api/v1/rules?type=alert")["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"CeleryQueueWithoutConsumer", "CeleryQueueBacklogGrowing", "RabbitMQMemoryAlarm", "FleetHostDown"} <= names
    firing = [
        a["labels"]["alertname"]
        for a in _prometheus(monitor_host, "/api/v1/alerts")["alerts"]
        if a["state"] != "inactive"
    ]
    # The disk rule reads this machine's own disks through the containers' mounts: it is not the fleet's to pass.
    assert [name for name in firing if name != "FleetHostDiskAlmostFull"] == []


def test_prometheus_listens_on_loopback_only(monitor_host, worker1):
    listeners = monitor_host.socket.get_listening_sockets()
    assert [s for s in listeners if s.endswith(":9090")] == ["tcp://127.0.0.1:9090"]
    assert _connect(worker1, MONITOR, 9090) == "ConnectionRefusedError"


def test_the_exporters_answer_the_monitor_host(monitor_host):
    assert "node_cpu_seconds_total" in _get(monitor_host, "http://worker1:9100/metrics")
    assert "rabbitmq_alarms_memory_used_watermark" in _get(monitor_host, f"http://{BROKERS[0]}:15692/metrics")


@pytest.mark.parametrize(
    ("target", "port"), [*((node, 15692) for node in BROKERS), *((node, 9100) for node in BROKERS), ("worker2", 9100)]
)
def test_the_exporters_refuse_a_worker(worker1, target, port):
    assert _connect(worker1, target, port) == "ConnectionRefusedError"


@pytest.mark.parametrize(("name", "unit"), [("worker1", "prometheus-node-exporter"), ("monitor_host", "prometheus")])
def test_monitoring_units_are_sandboxed_to_an_ok_exposure(request, name, unit):
    score, report = exposure(request.getfixturevalue(name), unit)
    assert score <= OK_EXPOSURE, report


def _flower_online(monitor_host):
    """Flower's view of the worker nodes (online or not), from its /metrics on the monitor host's loopback."""
    metrics = _get(monitor_host, "http://127.0.0.1:5556/metrics")
    online = {}
    for line in metrics.splitlines():
        if line.startswith("flower_worker_online{"):
            worker = line.split('worker="', 1)[1].split('"', 1)[0]
            online[worker] = float(line.rsplit(" ", 1)[1]) == 1
    return online


def _alert_state(monitor_host, name, **labels):
    """The state of the alert ``name`` whose labels include ``labels`` ("pending", "firing"), or None."""
    for alert in _prometheus(monitor_host, "/api/v1/alerts")["alerts"]:
        if alert["labels"]["alertname"] == name and labels.items() <= alert["labels"].items():
            return alert["state"]
    return None


@pytest.mark.skipif(
    CLUSTER, reason="proved on one broker (the default scenario): the cluster's lane is make test's longest"
)
def test_a_task_queue_without_consumer_fires_its_alert_and_resolves_when_its_workers_return(monitor_host, worker2):
    # The shared config's worker2 alone serves the io queue (fleet_worker_serves: [io]).
    worker2.check_output("systemctl stop celery-worker-io.service")
    try:
        # No consumer is seen at the next scrape (15 s); the rule then waits 2 minutes; it is evaluated every 15 s.
        wait_for(
            lambda: _alert_state(monitor_host, "CeleryQueueWithoutConsumer", queue="io") == "firing",
            timeout=240,
            interval=5,
            what=lambda: (
                f"the alert firing, state {_alert_state(monitor_host, 'CeleryQueueWithoutConsumer', queue='io')}"
            ),
        )
        # Only that queue: the default queue's workers still consume.
        assert _alert_state(monitor_host, "CeleryQueueWithoutConsumer", queue="celery") is None
        # Flower shows the stopped node offline (its warm shutdown said so; a node that vanishes silently is marked
        # offline once its heartbeats stop, within Flower's heartbeat window), the other online.
        assert _flower_online(monitor_host) == {"default@worker1": True, "io@worker2": False}
    finally:
        worker2.check_output("systemctl start celery-worker-io.service")
    wait_for(
        lambda: _alert_state(monitor_host, "CeleryQueueWithoutConsumer", queue="io") is None,
        timeout=120,
        interval=5,
        what="the alert resolved once the io workers consume again",
    )
