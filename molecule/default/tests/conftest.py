"""Fixtures of the fleet verifier: testinfra hosts for each container, and a Celery client on the control node.

The client deliberately has no access to the tasks package (app/): it knows the broker URL and task names only,
like any client of a real fleet. It reaches the broker across the scenario's podman network.
"""

import json
import os
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import testinfra
import yaml
from celery import Celery

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
# Must match molecule.yml: the generated part lives in the ephemeral directory, the suffix proves URL encoding.
PASSWORD_SUFFIX = "/@:%#?&"  # noqa: S105 (not a secret: a fixed suffix of the generated test password)

# The scenario under test (this verifier serves every scenario): what the fleet was deployed with.
_SCENARIO_DIR = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parents[1]))
_SCENARIO = yaml.safe_load(_SCENARIO_DIR.joinpath("molecule.yml").read_text())
FLEET = _SCENARIO["provisioner"]["inventory"]["group_vars"]["all"]
NETWORK = _SCENARIO["platforms"][0]["network"]
ROUTES = FLEET["fleet_task_routes"]
BROKER_KIND = FLEET.get("fleet_broker", "rabbitmq")
RESULTS_KIND = FLEET.get("fleet_results", "rpc")
SERIALIZER = FLEET.get("fleet_serializer", "json")
BROKER_SERVICE = {"rabbitmq": "rabbitmq-server", "redis": "redis-server"}[BROKER_KIND]

# Changing the deployment (groups, the tasks package) does not depend on the broker: the default scenario proves
# it on each distro, other scenarios skip it to keep CI within its time budget.
default_scenario_only = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME", "default") != "default",
    reason="reconfiguration is broker-independent and verified by the default scenario",
)
rabbitmq_only = pytest.mark.skipif(BROKER_KIND != "rabbitmq", reason="the fleet's broker is not RabbitMQ")
redis_only = pytest.mark.skipif(BROKER_KIND != "redis", reason="the fleet's broker is not Redis")


def _host(name):
    # podman exec straight into the container: what Ansible reached over its podman connection, without
    # Ansible's per-command overhead.
    return testinfra.get_host(f"podman://{name}")


@pytest.fixture(scope="session")
def broker():
    return _host("broker")


@pytest.fixture(scope="session")
def worker1():
    return _host("worker1")


@pytest.fixture(scope="session")
def worker2():
    return _host("worker2")


@pytest.fixture(scope="session")
def broker_ip():
    out = subprocess.run(
        ["podman", "inspect", "broker", "--format", "{{json .NetworkSettings.Networks}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)[NETWORK]["IPAddress"]


@pytest.fixture(scope="session")
def fleet_password():
    """The broker password of the fleet's user (RabbitMQ's or Redis's, whichever is the broker)."""
    name = {"rabbitmq": "fleet_amqp_password", "redis": "fleet_redis_password"}[BROKER_KIND]
    generated = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], name).read_text().split()[0]
    return generated + PASSWORD_SUFFIX


def quote(part):
    return urllib.parse.quote(part, safe="")


def amqp_url(ip, user, password, vhost):
    return f"amqp://{quote(user)}:{quote(password)}@{ip}:5672/{quote(vhost)}"


def redis_url(ip, user, password, db):
    return f"redis://{quote(user)}:{quote(password)}@{ip}:6379/{db}"


@pytest.fixture(scope="session")
def fleet_url(broker_ip, fleet_password):
    if BROKER_KIND == "redis":
        return redis_url(broker_ip, "fleet", fleet_password, 0)
    return amqp_url(broker_ip, "fleet", fleet_password, "fleet")


@pytest.fixture(scope="session")
def results_url(broker_ip, fleet_password):
    return "rpc://" if RESULTS_KIND == "rpc" else redis_url(broker_ip, "fleet", fleet_password, 1)


def celery_client(name, broker, backend):
    """A client with only Celery, a broker and a result backend, in the fleet's message format: no tasks code."""
    accept = list(dict.fromkeys([SERIALIZER, "json"]))
    app = Celery(name, broker=broker, backend=backend, set_as_current=False)
    app.conf.update(
        task_serializer=SERIALIZER,
        # A Redis result store keeps bare payloads: the reader must know their format.
        result_serializer=SERIALIZER,
        accept_content=accept,
        result_accept_content=accept,
        broker_connection_timeout=10,
    )
    return app


@pytest.fixture(scope="session")
def client(fleet_url, results_url):
    """The fleet's client, with its routing table."""
    app = celery_client("verifier-client", fleet_url, results_url)
    app.conf.task_routes = {pattern: {"queue": queue} for pattern, queue in ROUTES.items()}
    yield app
    app.close()


def converge(hosts, *extra_args):
    """Run site.yml again on ``hosts`` (and localhost) with extra ansible-playbook arguments; return its output."""
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_FORCE_COLOR="0")
    command = [
        shutil.which("ansible-playbook"),
        "-i",
        os.environ["MOLECULE_INVENTORY_FILE"],
        str(PROJECT / "site.yml"),
        "--limit",
        ",".join(["localhost", *hosts]),
        *extra_args,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout


def main_pid(host, unit):
    """The main process of ``unit`` on ``host`` (0 when it is not running)."""
    return int(host.check_output(f"systemctl show --property MainPID --value {unit}"))
