"""The fault-injection suite's machinery: submit known tasks, break something real, count what became of them.

Every case sends ``fleet.sleep`` probes with unique task ids through the fleet's client identity, injects one fault
into the deployed containers (a killed process, a restarted or frozen broker, a cut network, a stopped host, a
deploy, a memory alarm), waits for the fleet to settle (every wait has a timeout), and counts per task id, from the
workers' own journals (``Task fleet.sleep[<id>] succeeded``): completed (ran to success at least once), lost (never),
duplicated (succeeded more than once: at-least-once delivery, reported rather than hidden) and failed. The journal
is the authority because it records the work itself: a result sent over ``rpc://`` can be lost with the broker's
transient reply queue even when the task ran (docs/reliability.md).

Recovery seconds: from the moment the fault ends (the kill, the restart, the reconnection, the resume) until the
last submitted task had completed. Longest gap: the longest time, from the start of a case to its last completion,
in which no task of the case completed (under a steady stream, how long the fleet stood still).
"""

import contextlib
import dataclasses
import itertools
import json
import re
import subprocess
import threading
import time
import uuid

import yaml
from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError

from fleettest.scenario import BROKER, NETWORK, PROJECT, SCENARIO
from fleettest.wait import wait_for

# The evidence must outlive a stopped worker host. molecule/default/molecule.yml mounts a volume on the workers'
# /var/log/journal (podman's systemd mode would put a tmpfs there); prepare() checks that journald writes to it.
JOURNAL_FILE = "journalctl --header | grep -m1 'File path'"
SUCCEEDED = re.compile(r"Task fleet\.sleep\[([0-9a-f-]{36})\] succeeded")
FAILED = re.compile(r"Task fleet\.sleep\[([0-9a-f-]{36})\] raised unexpected")
LOST_CONNECTION = "Connection to broker lost"


def podman(*args, timeout=120, check=True):
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def container_ip(container, network=NETWORK):
    """The address of ``container`` on ``network`` (the scenario's)."""
    networks = json.loads(podman("inspect", container, "--format", "{{json .NetworkSettings.Networks}}"))
    return networks[network]["IPAddress"]


def sh(container, command, timeout=120, check=True):
    """Run a shell command in a container (podman exec), return its output."""
    return podman("exec", container, "sh", "-c", command, timeout=timeout, check=check)


@dataclasses.dataclass
class Outcome:
    """One case's row of the table."""

    case: str
    submitted: int
    completed: int
    lost: int
    duplicated: int
    failed: int
    recovery: float
    gap: float = float("nan")
    notes: str = ""


@dataclasses.dataclass
class Fleet:
    """The deployed fleet under test: the client app and the containers' names."""

    client: object
    workers: tuple = ("worker1", "worker2")
    broker: str = BROKER
    network: str = NETWORK  # the scenario's podman network
    started: float = dataclasses.field(default_factory=time.time)
    results: list = dataclasses.field(default_factory=list)

    def prepare(self):
        for worker in self.workers:
            path = sh(worker, JOURNAL_FILE)
            assert "/var/log/journal/" in path, f"{worker}'s journal does not persist across a restart: {path}"
            mounts = sh(worker, "grep ' /var/log/journal ' /proc/mounts")
            assert "tmpfs" not in mounts, f"{worker}'s /var/log/journal is a tmpfs: {mounts}"

    def journal(self, since, units="celery-worker-*", workers=None):
        """Journal lines of the worker units on every worker host since the epoch time ``since``, each prefixed with
        its Unix timestamp (short-unix)."""
        lines = []
        for worker in workers or self.workers:
            out = sh(worker, f"journalctl --no-pager -o short-unix -u '{units}' --since @{int(since) - 1}", check=False)
            lines.extend(out.splitlines())
        return lines

    def submit(self, count, seconds, queue="celery", **options):
        """Send ``count`` probes that each sleep ``seconds`` on ``queue``; return their task ids."""
        ids = []
        for _ in range(count):
            task_id = str(uuid.uuid4())
            self.client.send_task(
                "fleet.sleep", args=[seconds], kwargs={"tag": task_id}, queue=queue, task_id=task_id, **options
            )
            ids.append(task_id)
        return ids

    def tally(self, ids, since):
        """Per task id: how many times it succeeded and failed, and when it first and last succeeded (epoch
        seconds)."""
        wanted = set(ids)
        done, failed, first, last = {}, {}, {}, {}
        for line in self.journal(since):
            stamp = float(line.split(" ", 1)[0]) if line[:1].isdigit() else 0.0
            match = SUCCEEDED.search(line)
            if match and match.group(1) in wanted:
                done[match.group(1)] = done.get(match.group(1), 0) + 1
                first[match.group(1)] = min(first.get(match.group(1), stamp), stamp)
                last[match.group(1)] = max(last.get(match.group(1), 0.0), stamp)
            match = FAILED.search(line)
            if match and match.group(1) in wanted:
                failed[match.group(1)] = failed.get(match.group(1), 0) + 1
        return done, failed, first, last

    def settle(self, case, ids, since, fault_end, timeout, notes=""):
        """Wait until every id has completed (or ``timeout`` runs out); record and return the case's outcome."""
        # A task still missing at the timeout is counted as lost below, not raised here.
        with contextlib.suppress(AssertionError):
            wait_for(lambda: len(self.tally(ids, since)[0]) == len(ids), timeout, interval=1, what="every task")
        done, failed, first, last = self.tally(ids, since)
        recovery = max(last.values(), default=fault_end) - fault_end if len(done) == len(ids) else float("nan")
        outcome = Outcome(
            case=case,
            submitted=len(ids),
            completed=len(done),
            lost=len(ids) - len(done),
            duplicated=sum(1 for count in done.values() if count > 1),
            failed=len(failed),
            recovery=round(max(recovery, 0.0), 1),
            gap=round(longest_gap([since, *first.values()]), 1),
            notes=notes,
        )
        self.results.append(outcome)
        return outcome

    # Faults and what they act on.

    def main_pid(self, host, unit):
        return int(sh(host, f"systemctl show --property MainPID --value {unit}").strip() or 0)

    def wait_running(self, ids, since, count, timeout=30):
        """Wait until ``count`` of ``ids`` have been received by a worker (they are running or reserved)."""
        pattern = re.compile(r"Task fleet\.sleep\[([0-9a-f-]{36})\] received")
        wanted = set(ids)
        return wait_for(
            lambda: len({m.group(1) for line in self.journal(since) if (m := pattern.search(line))} & wanted) >= count,
            timeout,
            what=f"{count} tasks to be received",
        )

    def worker_ip(self, worker):
        return container_ip(worker, self.network)

    def ping(self, monitor, nodes, timeout=60):
        """Wait until every node answers a remote-control ping.

        Each try opens a connection of its own: the monitor's pooled connections may be the ones the fault broke
        (a restarted broker), and what is under test is whether the workers came back, not the verifier's pool.
        """
        errors = []

        def answered():
            try:
                with monitor.connection_for_write() as connection:
                    replies = monitor.control.ping(destination=list(nodes), timeout=2, connection=connection) or []
            except (OSError, KombuError, AMQPError) as error:
                errors.append(repr(error))
                return False
            return {name for reply in replies for name in reply} >= set(nodes)

        try:
            return wait_for(answered, timeout, interval=1, what=f"a ping from {', '.join(nodes)}")
        except AssertionError as error:
            raise AssertionError(f"{error}; the last connection errors: {errors[-3:]}") from None

    def lost_connection_at(self, since, worker):
        """When the worker's journal first said it lost the broker (epoch seconds), or None."""
        for line in self.journal(since, workers=[worker]):
            if LOST_CONNECTION in line:
                return float(line.split(" ", 1)[0])
        return None


def platform(name):
    """The molecule platform ``name`` of the scenario under test, as its molecule.yml describes it."""
    config = yaml.safe_load((PROJECT / "molecule" / SCENARIO / "molecule.yml").read_text())
    return next(item for item in config["platforms"] if item["name"] == name)


def recreate(name, address):
    """A fresh machine in place of the (removed) container ``name``: a new container made as molecule makes the
    platform, with the same host name and the same ``address`` on its network, booted. What replacing a dead
    machine gives: the same name and address, an empty disk."""
    spec = platform(name)
    options = [f"--cap-add={capability}" for capability in spec.get("capabilities", [])]
    options += [f"--ulimit={limit}" for limit in spec.get("ulimits", [])]
    options += [f"--volume={volume}" for volume in spec.get("volumes", [])]
    podman(
        "run",
        "--detach",
        f"--name={name}",
        f"--hostname={spec.get('hostname', name)}",
        f"--network={spec['network']}",
        f"--ip={address}",
        f"--systemd={spec.get('systemd', 'true')}",
        "--label=owner=molecule",
        *options,
        spec["image"],
        spec.get("command", "/sbin/init"),
    )
    wait_for(
        lambda: sh(name, "systemctl is-system-running", check=False).strip() in ("running", "degraded"),
        120,
        what=f"the new {name} to boot",
    )


class Feeder(threading.Thread):
    """Sends a steady stream of probes (``rate`` per second, alternating queues) until stopped; ``options`` are
    send_task's (``ignore_result=True``: sent without a result)."""

    def __init__(self, fleet, rate, seconds, queues=("celery", "io"), **options):
        super().__init__(daemon=True)
        self.fleet, self.rate, self.seconds, self.queues, self.options = fleet, rate, seconds, queues, options
        self.ids, self.errors = [], []
        self._stop_event = threading.Event()

    def run(self):
        turn = 0
        while not self._stop_event.is_set():
            try:
                queue = self.queues[turn % len(self.queues)]
                self.ids.extend(self.fleet.submit(1, self.seconds, queue=queue, **self.options))
            except Exception as error:
                self.errors.append(repr(error))
            turn += 1
            self._stop_event.wait(1 / self.rate)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=120)


def in_background(send):
    """Start ``send()`` in a thread; return the thread and a dict that gets its return value as 'ids' (or its
    exception as 'error') and its duration as 'seconds'."""
    box = {}

    def run():
        start = time.monotonic()
        try:
            box["ids"] = send()
        except Exception as error:
            box["error"] = repr(error)
        box["seconds"] = round(time.monotonic() - start, 1)

    return threading.Thread(target=run, daemon=True), box


@contextlib.contextmanager
def timed():
    """Yield a dict whose 'seconds' is filled in with the block's duration."""
    box = {}
    start = time.monotonic()
    try:
        yield box
    finally:
        box["seconds"] = round(time.monotonic() - start, 1)


def longest_gap(stamps):
    """The longest interval between consecutive times in ``stamps`` (seconds; 0 for fewer than two)."""
    ordered = sorted(stamps)
    return max((later - earlier for earlier, later in itertools.pairwise(ordered)), default=0.0)


def table(outcomes):
    """The results as a markdown table."""
    head = "| case | submitted | completed | lost | duplicated | failed | recovery s | longest gap s | notes |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    rows = [
        f"| {o.case} | {o.submitted} | {o.completed} | {o.lost} | {o.duplicated} | {o.failed} | {o.recovery} | "
        f"{o.gap} | {o.notes} |"
        for o in outcomes
    ]
    return "\n".join([head, rule, *rows])
