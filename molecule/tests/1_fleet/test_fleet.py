"""What users rely on, whatever the broker: workers run, tasks flow to the right place, beat ticks, retries retry.

The broker's own checks are in test_broker_rabbitmq.py and test_broker_redis.py.
"""

import contextlib
import importlib.util
import itertools
import json
import time
import uuid

import pytest
import yaml
from fleettest.scenario import BROKER, MTLS, PROJECT, main_pid, rabbitmq_only
from fleettest.wait import wait_for

WORKERS = {
    # host: (units it must run, units it must not have, node names)
    "worker1": (["celery-worker-default"], ["celery-worker-io"], ["default@worker1"]),
    "worker2": (["celery-worker-io"], ["celery-worker-default"], ["io@worker2"]),
}
TIMEOUT = 30


# --- workers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_worker_units_are_active_and_enabled(request, name):
    host = request.getfixturevalue(name)
    wanted, unwanted, _ = WORKERS[name]
    for unit in wanted:
        assert host.service(unit).is_running, unit
        assert host.service(unit).is_enabled, unit
    for unit in unwanted:
        assert not host.file(f"/etc/systemd/system/{unit}.service").exists, unit


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_workers_run_unprivileged(request, name):
    host = request.getfixturevalue(name)
    user = host.user("celery")
    assert user.shell == "/usr/sbin/nologin"
    owners = (
        host.check_output("ps -o user= -C celery").split()
        or host.check_output("ps -eo user=,args= | awk '/bin\\/celery .* worker/ {print $1}'").split()
    )
    assert owners and set(owners) == {"celery"}


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_env_file_is_private_and_secrets_stay_in_it(request, name, fleet_password):
    host = request.getfixturevalue(name)
    env = host.file("/etc/celery-fleet/worker.env")
    assert env.mode == 0o600
    assert env.user == "root"
    encoded = fleet_password.split("/")[0]  # the generated part, identical encoded or not
    # With mutual TLS the host logs in with its certificate: no broker password is on it at all.
    assert (encoded in env.content_string) is not MTLS
    for unit in WORKERS[name][0]:
        assert encoded not in host.file(f"/etc/systemd/system/{unit}.service").content_string


# --- tasks ------------------------------------------------------------------------------------------------------


def test_client_has_no_tasks_code():
    assert importlib.util.find_spec("celery_fleet") is None


def test_every_worker_answers_a_ping(monitor):
    replies = monitor.control.ping(timeout=5)
    nodes = {node for reply in replies for node in reply}
    assert nodes == {node for _, _, names in WORKERS.values() for node in names}


@rabbitmq_only
def test_every_worker_sends_monitoring_events(monitor):
    """Worker heartbeat events (what `celery events` and Flower watch) reach the monitoring identity on RabbitMQ 3
    and 4: the fleet's consumer publishes them without publisher confirms (celery_fleet/consumer.py)."""
    nodes = {node for _, _, names in WORKERS.values() for node in names}
    seen = set()
    deadline = time.monotonic() + TIMEOUT

    def on_event(event):
        if event["type"] == "worker-heartbeat":
            seen.add(event["hostname"])
        receiver.should_stop = seen >= nodes or time.monotonic() > deadline

    with monitor.connection_for_read() as connection:
        # One capture, one queue: short captures in a loop delete and re-declare the receiver's queue each time,
        # and events sent in between are dropped (with two 2-second senders that can miss one of them for good).
        receiver = monitor.events.Receiver(connection, handlers={"*": on_event})
        with contextlib.suppress(TimeoutError):  # no event at all for TIMEOUT seconds
            receiver.capture(limit=None, timeout=TIMEOUT, wakeup=False)
    assert seen >= nodes


def test_task_sent_by_name_returns_its_result(client):
    result = client.send_task("fleet.add", args=[2, 3])
    assert result.get(timeout=TIMEOUT) == 5
    assert result.worker == "default@worker1"


def test_default_queue_tasks_run_on_its_group_only(client):
    results = [client.send_task("fleet.whoami") for _ in range(6)]
    answers = [result.get(timeout=TIMEOUT) for result in results]
    assert {answer["hostname"] for answer in answers} == {"worker1"}
    assert {answer["node"] for answer in answers} == {"default@worker1"}
    assert {answer["queue"] for answer in answers} == {"celery"}


def test_a_task_sent_to_a_queue_runs_on_the_group_serving_it(client):
    results = [client.send_task("fleet.whoami", queue="io") for _ in range(3)]
    answers = [result.get(timeout=TIMEOUT) for result in results]
    assert {(answer["node"], answer["queue"]) for answer in answers} == {("io@worker2", "io")}


@rabbitmq_only  # the HTTP server it fetches is RabbitMQ's management plugin
def test_routed_tasks_run_on_the_group_serving_their_queue(client):
    # The management API answers 401 without credentials: a real HTTP round trip from worker2 to the broker.
    results = [client.send_task("fleet.fetch_url", args=[f"http://{BROKER}:15672/api/overview"]) for _ in range(3)]
    assert [result.get(timeout=TIMEOUT) for result in results] == [401, 401, 401]
    assert {result.worker for result in results} == {"io@worker2"}


def test_a_failing_task_reports_its_error(client):
    result = client.send_task("fleet.fetch_url", args=["file:///etc/passwd"])
    with pytest.raises(Exception, match="http"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"


def test_transient_failures_are_retried_with_backoff(client):
    # fleet.flaky fails twice with a TransientError, then succeeds on its third attempt (1 s and 2 s later).
    result = client.send_task("fleet.flaky", kwargs={"failures": 2})
    assert result.get(timeout=TIMEOUT) == 3


def test_retries_stop_at_the_limit(client):
    # max_retries=3: the fourth attempt's error is final (after 1 + 2 + 4 s of backoff).
    result = client.send_task("fleet.flaky", kwargs={"failures": 10})
    with pytest.raises(Exception, match="attempt 4 fails on purpose"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"


def test_pool_size_and_kind_follow_the_worker_group(monitor, worker1, worker2):
    stats = monitor.control.inspect(destination=["default@worker1", "io@worker2"], timeout=5).stats()
    pools = {node: (info["pool"]["implementation"], info["pool"]["max-concurrency"]) for node, info in stats.items()}
    assert pools == {
        "default@worker1": ("celery.concurrency.prefork:TaskPool", 2),
        "io@worker2": ("celery.concurrency.thread:TaskPool", 4),
    }
    # The default group recycles its prefork processes (max_tasks_per_child in the scenario's fleet_worker_groups).
    assert stats["default@worker1"]["pool"]["max-tasks-per-child"] == 5000
    # On the hosts: prefork runs its two slots as child processes; the thread pool runs in the main process.
    default = main_pid(worker1, "celery-worker-default")
    assert int(worker1.check_output(f"pgrep -c -P {default}")) == 2
    io = main_pid(worker2, "celery-worker-io")
    assert worker2.run(f"pgrep -P {io}").stdout.strip() == ""


def test_a_pickle_message_is_refused_and_the_worker_keeps_running(client, worker1):
    task_id = str(uuid.uuid4())
    headers = {"lang": "py", "task": "fleet.add", "id": task_id, "root_id": task_id, "retries": 0}
    with client.connection_for_write() as connection:
        # What an attacker who can publish would send: a pickle body, which runs code when it is decoded.
        connection.Producer().publish(
            ((2, 3), {}, {}), serializer="pickle", exchange="celery", routing_key="celery", headers=headers
        )

    def read_journal():
        return worker1.check_output("journalctl --no-pager -u celery-worker-default --since -2min")

    def refusal():
        log = read_journal()
        return log if "Refusing to deserialize untrusted content of type pickle" in log else None

    journal = wait_for(
        refusal, TIMEOUT, interval=1, what=lambda: f"the refusal in the worker's journal: {read_journal()[-2000:]}"
    )
    assert task_id not in journal
    assert client.send_task("fleet.add", args=[1, 1]).get(timeout=TIMEOUT) == 2


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_the_deployed_version_is_recorded_on_each_host(request, name):
    fact = json.loads(request.getfixturevalue(name).file("/etc/ansible/facts.d/celery_fleet.fact").content_string)
    pinned = yaml.safe_load((PROJECT / "roles/celery_worker/defaults/main.yml").read_text())[
        "celery_worker_celery_version"
    ]
    assert (fact["package"], fact["version"], fact["celery"]) == ("celery_fleet_tasks", "0.1.0", pinned)
    assert fact["app"] == "celery_fleet.app:app"


# --- celery beat --------------------------------------------------------------------------------------------------


def test_beat_runs_on_the_beat_host_only(worker1, worker2):
    assert worker2.service("celery-beat").is_running
    assert worker2.service("celery-beat").is_enabled
    assert not worker1.file("/etc/systemd/system/celery-beat.service").exists
    assert worker1.run("pgrep -f '[c]elery .* beat'").rc == 1  # [c]: the pattern must not match this shell
    state = worker2.file("/var/lib/celery-fleet")
    assert (state.user, state.is_directory) == ("celery", True)
    # The persistent schedule: when each entry last ran, so a restart neither skips nor repeats a tick.
    assert "beat-schedule" in worker2.check_output("ls /var/lib/celery-fleet")


def test_a_periodic_task_runs_repeatedly_and_once_per_tick(worker1):
    """fleet.tick is scheduled every 3 s: runs keep coming, and no two come closer than a tick apart."""
    since = int(time.time())

    def ticks():
        journal = worker1.check_output(f"journalctl --no-pager -o short-unix -u celery-worker-default --since @{since}")
        return [
            float(line.split()[0])
            for line in journal.splitlines()
            if "Task fleet.tick[" in line and "succeeded" in line
        ]

    def five_ticks():
        found = ticks()
        return found if len(found) >= 5 else None

    times = wait_for(five_ticks, 40, interval=2, what="5 ticks of fleet.tick")
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # A second scheduler would put extra runs between the ticks (gaps near 0-1.5 s).
    assert all(2.0 <= gap <= 4.5 for gap in gaps), gaps
