"""No task lost: the fault-injection suite, run against the deployed fleet (faults.py has the machinery).

Each test is one case of docs/reliability.md's table; a case passes only with zero lost tasks. The table is
printed at the end of the run and written to faults-report.md in the project directory (git-ignored). Mark
`faults`: the default scenario selects it (molecule/default/molecule.yml), after 1_fleet and before 3_rollout (the
directories' order); `make faults` runs it alone against the molecule fleet.
"""

import json
import re
import shutil
import time

import pytest
from fleettest.faults import Feeder, Fleet, in_background, podman, sh, table, timed, wait_for
from fleettest.scenario import BROKER, BROKERS, PROJECT, WORKER_NODES, converge, rabbitmq_only

pytestmark = [rabbitmq_only, pytest.mark.faults]

# Work per case: enough tasks that some run, some wait in the queue and some are reserved when the fault strikes.
PROBES = 12
PROBE_SECONDS = 2
SETTLE = 180  # seconds a case may take to drain after its fault; far above what any case needs
# The broker's heartbeat (fleet_broker_heartbeat default); the silent-broker case must outlast it.
HEARTBEAT = 10
REPORT = PROJECT / "faults-report.md"


@pytest.fixture(scope="module")
def fleet(client, broker):
    fleet = Fleet(client)
    fleet.prepare()
    yield fleet
    report = table(fleet.results)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    distro = broker.system_info.codename
    REPORT.write_text(f"# Fault suite\n\nDistro: {distro}; run at {when}\n\n{report}\n")
    print("\n" + report)


def assert_none_lost(outcome):
    assert outcome.lost == 0, f"{outcome.case}: {outcome.lost} of {outcome.submitted} tasks lost ({outcome})"


def test_1_kill_9_of_the_pool_and_of_the_main_process(fleet, worker1):
    since = time.time()
    ids = fleet.submit(PROBES, PROBE_SECONDS)
    fleet.wait_running(ids, since, 2)
    time.sleep(0.5)
    main = fleet.main_pid("worker1", "celery-worker-default")
    # The pool's children first: their tasks are retried (task_retry_on_worker_lost).
    sh("worker1", f"pkill -9 -P {main}")
    time.sleep(PROBE_SECONDS * 2)
    # Then the main process: systemd restarts it; its unacknowledged tasks go back to the queue.
    sh("worker1", f"kill -9 {main}")
    fault_end = time.time()
    wait_for(lambda: fleet.main_pid("worker1", "celery-worker-default") not in (0, main), 60, what="a restart")
    outcome = fleet.settle("1. kill -9 of pool processes, then of the worker", ids, since, fault_end, SETTLE)
    assert_none_lost(outcome)


def test_2_broker_restart_with_tasks_queued_and_in_flight(fleet, monitor):
    since = time.time()
    ids = fleet.submit(PROBES, PROBE_SECONDS) + fleet.submit(4, PROBE_SECONDS, queue="io")
    fleet.wait_running(ids, since, 2)
    sh(BROKER, "systemctl restart rabbitmq-server", timeout=180)
    fault_end = time.time()
    outcome = fleet.settle("2. RabbitMQ restarted", ids, since, fault_end, SETTLE)
    assert_none_lost(outcome)
    # The workers came back by themselves: nobody restarted them.
    fleet.ping(monitor, WORKER_NODES)


def test_3_worker_cut_off_from_the_network_for_30_s(fleet, monitor):
    ip = fleet.worker_ip("worker1")
    since = time.time()
    ids = fleet.submit(PROBES, PROBE_SECONDS)
    fleet.wait_running(ids, since, 2)
    podman("network", "disconnect", fleet.network, "worker1")
    try:
        time.sleep(30)
    finally:
        # The same address: the broker's firewall admits the workers by address.
        podman("network", "connect", "--ip", ip, fleet.network, "worker1")
    fault_end = time.time()
    outcome = fleet.settle("3. worker cut off from the network for 30 s", ids, since, fault_end, SETTLE)
    assert_none_lost(outcome)
    fleet.ping(monitor, WORKER_NODES)


def test_4_worker_container_stopped_and_started(fleet, worker1, monitor):
    ip = fleet.worker_ip("worker1")
    since = time.time()
    ids = fleet.submit(PROBES, PROBE_SECONDS)
    fleet.wait_running(ids, since, 2)
    podman("stop", "--time", "30", "worker1", timeout=120)
    podman("start", "worker1")
    fault_end = time.time()
    # A machine keeps its address across a restart; podman keeps a container's only when it was given explicitly
    # (case 3 reconnects worker1 with --ip). With another address the broker's firewall rightly refuses it.
    assert fleet.worker_ip("worker1") == ip, "worker1 came back with another address than the firewall admits"
    outcome = fleet.settle("4. worker container stopped and started", ids, since, fault_end, SETTLE)
    assert_none_lost(outcome)
    # The host came back with its units enabled and consuming.
    assert sh("worker1", "systemctl is-enabled celery-worker-default").strip() == "enabled"
    fleet.ping(monitor, WORKER_NODES)


def test_5_rolling_deploy_of_a_new_version_under_load(fleet, tmp_path, client):
    # A new version of the tasks package, built from a copy of app/ (building in place would leave build/ behind).
    project = shutil.copytree(PROJECT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    init = project / "src" / "celery_fleet" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "0.1.1"', init.read_text()))
    since = time.time()
    feeder = Feeder(fleet, rate=4, seconds=0.5)
    feeder.start()
    try:
        with timed() as deploy:
            output = converge(
                [*BROKERS, "worker1", "worker2"], "-e", json.dumps({"fleet_tasks_package": {"project": str(project)}})
            )
    finally:
        time.sleep(3)
        feeder.stop()
    fault_end = time.time()
    outcome = fleet.settle(
        "5. rolling deploy of a new tasks package under a steady stream",
        feeder.ids,
        since,
        fault_end,
        SETTLE,
        notes=f"deploy {deploy['seconds']} s",
    )
    assert feeder.errors == [], feeder.errors[:3]
    assert_none_lost(outcome)
    assert outcome.failed == 0
    # One worker host at a time (fleet_rolling_batch 50% of two): the restart play ran in two batches.
    assert output.count("PLAY [Restart the workers whose code or configuration changed") == 2, output[-3000:]
    for queue in ("celery", "io"):
        assert client.send_task("fleet.version", queue=queue).get(timeout=30) == "0.1.1"


def test_6_time_limit_and_a_crashing_task(fleet, client, monitor):
    since = time.time()
    # A task over its hard time limit is killed and reported as failed; the worker lives on.
    slow = client.send_task("fleet.sleep", args=[60], time_limit=3, soft_time_limit=2)
    slow_hard = client.send_task(
        "fleet.sleep", args=[60], kwargs={"ignore_soft_limit": True}, time_limit=4, soft_time_limit=2
    )
    # A task that ends its process (os._exit) is retried max_retries (2) times, then fails: never forever.
    crash = client.send_task("fleet.crash")
    states = {}
    for name, result in (("soft", slow), ("hard", slow_hard), ("crash", crash)):
        with pytest.raises(Exception) as error:
            result.get(timeout=60)
        states[name] = type(error.value).__name__
    fault_end = time.time()
    assert states == {"soft": "SoftTimeLimitExceeded", "hard": "TimeLimitExceeded", "crash": "WorkerLostError"}
    retries = [line for line in fleet.journal(since) if re.search(rf"fleet\.crash\[{crash.id}\] retry", line)]
    assert len(retries) == 2, retries
    # The worker survived both: it still answers and still runs tasks.
    fleet.ping(monitor, WORKER_NODES)
    ids = fleet.submit(2, 0.1)
    outcome = fleet.settle(
        "6. time limits exceeded; a task that crashes its process",
        ids,
        since,
        fault_end,
        SETTLE,
        notes="over-limit tasks failed (soft and hard); os._exit task failed after 2 retries",
    )
    assert_none_lost(outcome)


def test_7_silent_broker_paused_longer_than_the_heartbeat(fleet, client, monitor):
    since = time.time()
    ids = fleet.submit(PROBES, PROBE_SECONDS) + fleet.submit(4, PROBE_SECONDS, queue="io")
    fleet.wait_running(ids, since, 2)
    paused_at = time.time()
    podman("pause", BROKER)
    # A client sending while the broker is frozen: the confirm does not come, the send times out and retries
    # (task_publish_retry_policy) until the broker answers again.
    sender, sends = in_background(lambda: fleet.submit(2, PROBE_SECONDS, confirm_timeout=5))
    sender.start()
    try:
        time.sleep(HEARTBEAT * 3)
    finally:
        podman("unpause", BROKER)
    fault_end = time.time()
    sender.join(timeout=180)
    assert "error" not in sends, sends
    noticed = fleet.lost_connection_at(since, "worker1")
    assert noticed is not None, "worker1 never noticed the silent broker"
    outcome = fleet.settle(
        f"7. broker frozen (podman pause) for {HEARTBEAT * 3} s",
        ids + sends["ids"],
        since,
        fault_end,
        SETTLE,
        notes=f"worker noticed after {noticed - paused_at:.0f} s; a send during the pause returned after "
        f"{sends['seconds']} s",
    )
    assert_none_lost(outcome)
    # Noticed within a bounded time: about two heartbeats, well before the broker came back.
    assert noticed - paused_at < HEARTBEAT * 3, f"noticed after {noticed - paused_at:.0f} s"
    fleet.ping(monitor, WORKER_NODES)


def test_8_memory_alarm_blocks_publishers_without_failing_them(fleet, client):
    since = time.time()
    sh(BROKER, "rabbitmqctl -q set_vm_memory_high_watermark 0")
    sender, sends = in_background(lambda: fleet.submit(6, 0.2))
    try:
        wait_for(
            lambda: "memory alarm" in sh(BROKER, "rabbitmq-diagnostics -q alarms", check=False).lower(),
            30,
            what="the memory alarm",
        )
        sender.start()
        time.sleep(10)
        # Blocked, not failed: the send is still waiting for the broker.
        assert sender.is_alive(), f"the send returned while the alarm was on: {sends}"
    finally:
        sh(BROKER, "rabbitmqctl -q set_vm_memory_high_watermark 0.4")
    fault_end = time.time()
    sender.join(timeout=120)
    assert "error" not in sends, sends
    outcome = fleet.settle(
        "8. memory alarm (watermark 0) for 10 s",
        sends["ids"],
        since,
        fault_end,
        SETTLE,
        notes=f"sends were blocked for {sends['seconds']} s, none failed",
    )
    assert_none_lost(outcome)
