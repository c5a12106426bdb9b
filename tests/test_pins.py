"""Facts that YAML and Python both need, kept equal: a change in one place that misses the other fails here.

The Celery release is pinned for the workers in the celery_worker role's defaults and for the control node (the
verifier and the lab's clients) in requirements.txt; the broker heartbeat's default is the fleet's input, the
worker role's own default and the env contract's default for an env file that does not say it.
"""

import re
from pathlib import Path

import pytest
import yaml
from celery_fleet_client import env

REPO = Path(__file__).resolve().parent.parent


def defaults(role):
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())


def test_the_control_node_runs_the_workers_celery_release():
    pinned = re.search(r"^celery(?:\[[^\]]*\])?==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned, "requirements.txt pins no celery release"
    assert pinned.group(1) == defaults("celery_worker")["celery_worker_celery_version"]


def test_the_heartbeat_default_is_the_same_everywhere():
    assert defaults("fleet")["fleet_broker_heartbeat"] == env.DEFAULT_HEARTBEAT
    assert defaults("celery_worker")["celery_worker_broker_heartbeat"] == env.DEFAULT_HEARTBEAT


@pytest.mark.parametrize("lock", ["app/requirements.lock", "examples/acme-tasks/requirements.lock"])
def test_the_workers_locks_pin_the_workers_celery_release(lock):
    pinned = re.search(r"^celery==(\S+) \\$", (REPO / lock).read_text(), re.MULTILINE)
    assert pinned, f"{lock} locks no celery release"
    assert pinned.group(1) == defaults("celery_worker")["celery_worker_celery_version"]


def test_flower_runs_the_workers_celery_release_from_its_lock():
    lock = (REPO / "roles" / "flower" / "files" / "requirements.lock").read_text()
    pinned = re.search(r"^celery==(\S+) \\$", lock, re.MULTILINE)
    assert pinned, "roles/flower/files/requirements.lock locks no celery release"
    assert pinned.group(1) == defaults("celery_worker")["celery_worker_celery_version"]
    assert re.search(r"^flower==\S+ \\$", lock, re.MULTILINE)
