"""Changing which groups a host serves: the new unit starts, a removed one is stopped and deleted.

Runs after test_fleet.py (file order) and changes worker1, then puts it back as molecule.yml has it.
"""

import os
import shutil
import subprocess
from pathlib import Path

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))


def converge_worker1(*extra_args):
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_FORCE_COLOR="0")
    cmd = [
        shutil.which("ansible-playbook"),
        "-i",
        os.environ["MOLECULE_INVENTORY_FILE"],
        str(PROJECT / "site.yml"),
        "--limit",
        "localhost,worker1",
        *extra_args,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def main_pid(host, unit):
    return int(host.check_output(f"systemctl show --property MainPID --value {unit}"))


def test_adding_then_removing_a_group_on_a_host(worker1):
    before = main_pid(worker1, "celery-worker-default")
    assert before > 0

    converge_worker1("-e", '{"fleet_worker_serves": ["default", "io"]}')
    assert worker1.service("celery-worker-io").is_running
    assert worker1.service("celery-worker-io").is_enabled
    # Only the new unit started: the existing one kept its main process.
    assert main_pid(worker1, "celery-worker-default") == before

    converge_worker1()
    assert not worker1.service("celery-worker-io").is_running
    assert not worker1.file("/etc/systemd/system/celery-worker-io.service").exists
    assert worker1.service("celery-worker-default").is_running
    assert main_pid(worker1, "celery-worker-default") == before
