"""Bring your own tasks package, and roll a new one out.

Mark `rollout` (3_rollout: after the fault suite, before the switches): replaces the fleet's tasks package with
examples/acme-tasks (one app, tasks in a sub-package and in a module, listed in include=[...]), given as a pip
requirement fetched from a package index of its own (a local file:// index here) and locked with its hash beside
the fleet's own lock, as a user's lock would pin it. Every worker unit and beat
restart onto it; the broker keeps running (a tasks package is the workers' business: the run is limited to them, as
an operator limits a package rollout); the deployed version is recorded on every worker.
"""

import hashlib
import json
import shutil
import subprocess
import sys

import pytest
from fleettest.scenario import BROKER_SERVICE, PROJECT, converge, main_pid

pytestmark = pytest.mark.rollout

EXAMPLE = PROJECT / "examples" / "acme-tasks"
UNITS = {"worker1": ["celery-worker-default"], "worker2": ["celery-worker-io", "celery-beat"]}


def package_index(tmp_path):
    """A PEP 503 'simple' index holding the example's wheel, as a private index would."""
    project = tmp_path / "acme-tasks"
    project.mkdir(parents=True)
    source = shutil.copytree(EXAMPLE, tmp_path / "src")  # building in place would leave build/ in the repository
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", project, source],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheels = sorted(path.name for path in project.glob("*.whl"))
    assert wheels == ["acme_tasks-1.0.0-py3-none-any.whl"], wheels
    links = "".join(f'<a href="{name}">{name}</a>\n' for name in wheels)
    (project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    return tmp_path.as_uri()


def lock_with_package(tmp_path):
    """The example's own lock (examples/acme-tasks/requirements.lock) with its wheel pinned by its hash, as `uv pip
    compile --generate-hashes` writes a lock of a requirements.in that names acme-tasks==1.0.0 from a private index."""
    wheel = tmp_path / "acme-tasks" / "acme_tasks-1.0.0-py3-none-any.whl"
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = tmp_path / "requirements.lock"
    lock.write_text((EXAMPLE / "requirements.lock").read_text() + f"acme-tasks==1.0.0 --hash=sha256:{digest}\n")
    return str(lock)


def test_a_new_tasks_package_rolls_out_to_every_worker(tmp_path, brokers, worker1, worker2, client):
    hosts = {"worker1": worker1, "worker2": worker2}
    before = {(name, unit): main_pid(hosts[name], unit) for name, units in UNITS.items() for unit in units}
    brokers_before = [main_pid(broker, BROKER_SERVICE) for broker in brokers]

    variables = {
        "fleet_tasks_package": {"requirement": "acme-tasks==1.0.0", "index_url": package_index(tmp_path)},
        "fleet_requirements_lock": lock_with_package(tmp_path),
        "fleet_celery_app": "acme_tasks.celery:app",
        "fleet_beat_schedule": {"hourly-total": {"task": "acme.billing.total", "every": 3600, "args": [[1, 2]]}},
    }
    converge(["worker1", "worker2"], "-e", json.dumps(variables))

    # Everything that runs the package restarted onto it; the broker was left alone.
    for (name, unit), pid in before.items():
        assert main_pid(hosts[name], unit) not in (0, pid), f"{unit} on {name} did not restart"
    assert [main_pid(broker, BROKER_SERVICE) for broker in brokers] == brokers_before

    # Tasks from both modules of the new package run, by name, from a client without the code.
    assert client.send_task("acme.billing.total", args=[[10, 20.5]], kwargs={"tax_rate": 0.1}).get(timeout=30) == 33.55
    assert client.send_task("acme.reports.version").get(timeout=30) == "1.0.0"

    # Each host says what it runs.
    for host in hosts.values():
        fact = json.loads(host.file("/etc/ansible/facts.d/celery_fleet.fact").content_string)
        assert (fact["package"], fact["version"], fact["app"]) == ("acme_tasks", "1.0.0", "acme_tasks.celery:app")
