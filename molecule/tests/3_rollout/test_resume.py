"""A re-run finishes a rollout that failed or was interrupted between install and restart (docs/reliability.md).

Mark `resume` (the default scenario only: molecule/default/molecule.yml). The fleet is left split between
configurations on purpose, first by a failed batch, then by a killed run; the test checks that it is split, then
re-runs site.yml plainly and checks, from the running processes (/proc/PID/environ), not from files, that every
unit runs what is installed. The worker hosts keep the last heartbeat.
That a re-run with nothing to do restarts nothing is molecule's idempotence step: a restart reports a change.
"""

import os
import re
import signal
import subprocess
import time

import pytest
from fleettest.scenario import converge, converge_command, converge_env, main_pid, run_converge

pytestmark = pytest.mark.resume

# The units of each worker host in this scenario (worker2 runs beat), batch 1 then batch 2 (fleet_rolling_batch 50%).
UNITS = {"worker1": ["celery-worker-default"], "worker2": ["celery-worker-io", "celery-beat"]}
BROKEN = "/etc/systemd/system/celery-worker-default.service.d/zz-test-cannot-start.conf"
# The restart play's first task, once per batch: its second banner means batch 1 is done and batch 2 begins.
BATCH_BANNER = "TASK [celery_worker : Find the units that started before their code or configuration last changed]"


def heartbeat(host, unit):
    """CELERY_BROKER_HEARTBEAT as the unit's running main process got it (not as its env file says)."""
    pid = main_pid(host, unit)
    assert pid > 0, f"{unit} is not running"
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    values = [line.split("=", 1)[1] for line in environ.splitlines() if line.startswith("CELERY_BROKER_HEARTBEAT=")]
    return values[0] if values else None


def heartbeats(hosts):
    return {(name, unit): heartbeat(hosts[name], unit) for name, units in UNITS.items() for unit in units}


def env_file_heartbeat(host):
    return host.check_output("sed -n 's/^CELERY_BROKER_HEARTBEAT=//p' /etc/celery-fleet/worker.env").strip('"')


@pytest.fixture
def hosts(worker1, worker2):
    return {"worker1": worker1, "worker2": worker2}


def kill_at_second_batch(hosts, *extra_args):
    """Run site.yml and kill it (SIGKILL to its process group, as a lost terminal or SSH session ends it) as soon
    as batch 1 of the restart play is done and batch 2 begins: install everywhere, restarts on batch 1 only."""
    process = subprocess.Popen(
        converge_command(hosts, *extra_args),
        env=converge_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    banners, deadline = 0, time.monotonic() + 900
    try:
        for line in process.stdout:
            banners += line.startswith(BATCH_BANNER)
            if banners == 2 or time.monotonic() > deadline:
                break
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    assert banners == 2, "the run ended before its second batch"


def test_a_failed_batch_then_a_killed_run_are_finished_by_a_plain_rerun(hosts, worker1, worker2):
    before = heartbeats(hosts)
    assert set(before.values()) == {"10"}, before

    # 1. A failed batch: worker1 (batch 1) cannot start its unit again until the test lets it.
    drop_in = "[Service]\\nExecStartPre=/bin/false\\n"
    worker1.check_output(f"mkdir -p {os.path.dirname(BROKEN)} && printf '{drop_in}' > {BROKEN}")
    worker1.check_output("systemctl daemon-reload")
    try:
        failed = run_converge(["worker1", "worker2"], "-e", "fleet_broker_heartbeat=27")
        assert failed.returncode != 0
        assert "failed: [worker1]" in failed.stdout + failed.stderr, failed.stdout[-3000:]
        # The failed batch stopped the rollout: worker2 has the new configuration on disk and runs the old one.
        assert env_file_heartbeat(worker2) == "27"
        assert heartbeat(worker2, "celery-worker-io") == "10"
        assert heartbeat(worker2, "celery-beat") == "10"
    finally:
        worker1.check_output(f"rm -rf {os.path.dirname(BROKEN)} && systemctl daemon-reload && systemctl reset-failed")

    # 2. The cause fixed, the next change's run is killed between install and restart: batch 1 restarts, batch 2
    # gets the new files and keeps running the configuration of two runs ago.
    kill_at_second_batch(["worker1", "worker2"], "-e", "fleet_broker_heartbeat=28")
    assert heartbeat(worker1, "celery-worker-default") == "28"
    assert env_file_heartbeat(worker2) == "28"
    assert heartbeat(worker2, "celery-worker-io") == "10"
    assert heartbeat(worker2, "celery-beat") == "10"
    worker1_pid = main_pid(worker1, "celery-worker-default")

    # 3. The same command again, plainly: nothing changes on disk, and it restarts what runs an older
    # configuration, and only that.
    output = converge(["worker1", "worker2"], "-e", "fleet_broker_heartbeat=28")
    assert set(heartbeats(hosts).values()) == {"28"}, heartbeats(hosts)
    assert main_pid(worker1, "celery-worker-default") == worker1_pid
    assert re.search(r"^worker1\s+: ok=\d+\s+changed=0 ", output, re.M), output[-2000:]
    # worker2's one change: the restart of its two units (one task).
    assert re.search(r"^worker2\s+: ok=\d+\s+changed=1 ", output, re.M), output[-2000:]
