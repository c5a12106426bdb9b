"""What a RabbitMQ cluster of the molecule fleet says about itself, asked on one of its nodes (``rabbitmqctl`` and
``rabbitmq-diagnostics`` through podman exec), and the waits for it to be whole again.

A node is named ``rabbit@<container>``: the containers' host names are their names (the fleet's default node name).
"""

import json
import subprocess
import threading

from fleettest.faults import sh
from fleettest.wait import wait_for


def node_of(container):
    return f"rabbit@{container}"


def container_of(node):
    return node.split("@", 1)[1]


def cluster_status(container):
    return json.loads(sh(container, "rabbitmqctl -q cluster_status --formatter json", timeout=60))


def running_nodes(container):
    """The members that ``container``'s node sees running (itself included)."""
    return set(cluster_status(container)["running_nodes"])


def queues(container, *columns, vhost="fleet"):
    """``rabbitmqctl list_queues`` of ``vhost`` with ``columns`` (name first), as dicts. The listing asks every
    node; one that cannot be reached fails it after 20 s (AssertionError)."""
    command = f"rabbitmqctl -q --timeout 20 list_queues -p {vhost} name {' '.join(columns)} --formatter json"
    try:
        return json.loads(sh(container, command, timeout=60))
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"{command} on {container} did not answer: {error}") from None


def leader_of(container, queue):
    """The container whose node leads the quorum queue ``queue``, asked on ``container``; None while the
    cluster cannot say (a member unreachable, an election under way)."""
    try:
        leaders = {item["name"]: item["leader"] for item in queues(container, "leader")}
    except (AssertionError, ValueError):
        return None
    return container_of(leaders[queue]) if leaders.get(queue) else None


def whole(containers, task_queues):
    """True when every node sees every other one running, none reports a partition, and each task queue has one
    leader and every node online as its member."""
    nodes = {node_of(name) for name in containers}
    for name in containers:
        try:
            status = cluster_status(name)
        except (AssertionError, ValueError, subprocess.TimeoutExpired):  # the node's CLI cannot reach it yet
            return False
        if set(status["running_nodes"]) != nodes or status.get("partitions"):
            return False
    try:
        listing = {item["name"]: item for item in queues(containers[0], "leader", "online")}
    except (AssertionError, ValueError):
        return False
    return all(
        set(listing[queue]["online"]) == nodes and listing[queue]["leader"] in nodes
        for queue in task_queues
        if queue in listing
    )


def wait_whole(containers, task_queues, timeout=300):
    """Wait until the cluster is whole again (``whole``), then until no node is quorum-critical: losing any one
    node would again cost no queue its majority."""
    wait_for(lambda: whole(containers, task_queues), timeout, interval=3, what="the cluster to be whole again")
    for name in containers:
        wait_for(
            lambda name=name: _quorum_safe(name),
            120,
            interval=3,
            what=f"{name} to be no longer quorum-critical",
        )


def _quorum_safe(container):
    return sh(container, "rabbitmq-diagnostics -q check_if_node_is_quorum_critical >/dev/null && echo ok", check=False)


def unit_active(container):
    """True when ``container``'s rabbitmq-server unit is active (Debian's unit is active once the node has booted)."""
    return sh(container, "systemctl is-active rabbitmq-server", check=False).strip() == "active"


def paused(container):
    """True when ``container``'s RabbitMQ runs (its unit is active) but its application does not: the node paused
    itself (cluster_partition_handling = pause_minority), as opposed to one that stopped or crashed."""
    application = sh(container, "rabbitmq-diagnostics -q check_running >/dev/null 2>&1 && echo running", check=False)
    return unit_active(container) and application.strip() != "running"


class DownWatch(threading.Thread):
    """Samples, until stopped, which of ``containers``' RabbitMQ units are not active (stopping, stopped,
    starting: Debian's unit is active only once the node has booted); ``most`` is the most found down at once,
    ``down`` the nodes seen down at any time."""

    def __init__(self, containers, interval=0.5):
        super().__init__(daemon=True)
        self.containers, self.interval = containers, interval
        self.most, self.samples, self.down = 0, 0, set()
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            down = {name for name in self.containers if not unit_active(name)}
            self.most, self.samples = max(self.most, len(down)), self.samples + 1
            self.down |= down
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=60)
