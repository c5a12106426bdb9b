"""Fixtures of the fleet verifier: testinfra hosts for each container, and a Celery client on the control node.

The client deliberately has no access to the tasks package (app/): it knows the broker URL and task names only,
like any client of a real fleet. It reaches the broker across the scenario's podman network.
"""

import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import testinfra
import yaml
from celery import Celery

NETWORK = "celery-fleet-molecule"
# Must match molecule.yml: the generated part lives in the ephemeral directory, the suffix proves URL encoding.
PASSWORD_SUFFIX = "/@:%#?&"  # noqa: S105 (not a secret: a fixed suffix of the generated test password)
# The routing table the fleet was deployed with: clients use the same one.
_SCENARIO = yaml.safe_load(Path(__file__).resolve().parents[1].joinpath("molecule.yml").read_text())
ROUTES = _SCENARIO["provisioner"]["inventory"]["group_vars"]["all"]["fleet_task_routes"]


def _inventory():
    return os.environ["MOLECULE_INVENTORY_FILE"]


def _host(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={_inventory()}")


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
    generated = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "fleet_amqp_password").read_text().split()[0]
    return generated + PASSWORD_SUFFIX


def amqp_url(ip, user, password, vhost):
    quote = lambda part: urllib.parse.quote(part, safe="")  # noqa: E731
    return f"amqp://{quote(user)}:{quote(password)}@{ip}:5672/{quote(vhost)}"


@pytest.fixture(scope="session")
def fleet_url(broker_ip, fleet_password):
    return amqp_url(broker_ip, "fleet", fleet_password, "fleet")


@pytest.fixture(scope="session")
def client(fleet_url):
    """A client with only Celery, the broker URL and the fleet's routing table: no tasks code."""
    app = Celery("verifier-client", broker=fleet_url, backend="rpc://", set_as_current=False)
    app.conf.update(
        task_routes={pattern: {"queue": queue} for pattern, queue in ROUTES.items()},
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        broker_connection_timeout=10,
    )
    yield app
    app.close()
