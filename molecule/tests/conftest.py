"""Fixtures of the fleet verifier: testinfra hosts for each container, and a Celery client on the control node.

The client deliberately has no access to the tasks package (app/): it knows the broker URL and task names only,
like any client of a real fleet. It reaches the broker across the scenario's podman network.
"""

import json
import os
import shutil
import ssl
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import testinfra
import yaml
from celery import Celery
from kombu import Connection

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
# AMQP over TLS (the default): the verifier trusts the fleet's CA, made by site.yml into fleet_pki_dir.
TLS = BROKER_KIND == "rabbitmq" and FLEET.get("fleet_tls", True)
# Redis over TLS, where Redis is used (the Redis scenario): its certificate also names the broker container's
# address (molecule.yml), since redis-py checks the name it connects to.
REDIS_TLS = FLEET.get("fleet_tls", True)
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
CA_CERT = EPHEMERAL / "pki" / "ca.crt"
# FLEET_STRICT=1 (molecule.yml, the Makefile's trixie run): mutual TLS, where each connection presents a certificate
# from the fleet's CA and logs in with it (EXTERNAL), and signed messages. The identities' keys and certificates are
# in the PKI directory site.yml made.
STRICT = os.environ.get("FLEET_STRICT") == "1"
MTLS = STRICT and TLS
SIGNING = STRICT
IDENTITIES = EPHEMERAL / "pki" / "identities"
# The identity the verifier presents for each broker user (worker1's certificate for the workers' user).
IDENTITY_OF_USER = {"fleet": "worker-worker1", "fleet-client": "client", "fleet-monitor": "monitor"}
# The name in the broker's certificate; the verifier connects to the container's address, from outside its network.
BROKER_NAME = "broker"

# The fleet's client settings, exactly as a client of a real fleet gets them (site.yml installs this module next to
# the client env file).
sys.path.insert(0, str(PROJECT / "playbooks" / "files"))
sys.path.insert(0, str(PROJECT / "tests"))
from celery_fleet_client import settings as client_settings  # noqa: E402
from certificates import self_signed  # noqa: E402

# Changing the deployment (groups, the tasks package) does not depend on the broker: the default scenario proves
# it on each distro, other scenarios skip it to keep CI within its time budget.
default_scenario_only = pytest.mark.skipif(
    os.environ.get("MOLECULE_SCENARIO_NAME", "default") != "default",
    reason="reconfiguration is broker-independent and verified by the default scenario",
)
mtls_only = pytest.mark.skipif(not MTLS, reason="mutual TLS is off (FLEET_STRICT=1 turns it on)")
password_login_only = pytest.mark.skipif(MTLS, reason="with mutual TLS the certificate is the identity, not a password")
signing_only = pytest.mark.skipif(not SIGNING, reason="message signing is off (FLEET_STRICT=1 turns it on)")
rabbitmq_only = pytest.mark.skipif(BROKER_KIND != "rabbitmq", reason="the fleet's broker is not RabbitMQ")
redis_only = pytest.mark.skipif(BROKER_KIND != "redis", reason="the fleet's broker is not Redis")


# The order of the files whose tests change the fleet under the others: the fault suite deploys a new version of
# the tasks package and breaks things on purpose, test_rollout.py replaces the package with another one,
# test_quorum.py switches the task queues to quorum queues (and deploys app/ again).
LAST = ("test_faults.py", "test_rollout.py", "test_quorum.py")


def pytest_collection_modifyitems(config, items):
    """Every other test first, then those of LAST in its order; with FLEET_FAULTS_ONLY=1 (`make faults`) only the
    fault suite."""
    if os.environ.get("FLEET_FAULTS_ONLY") == "1":
        keep = [item for item in items if item.path.name == "test_faults.py"]
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    items.sort(key=lambda item: LAST.index(item.path.name) + 1 if item.path.name in LAST else 0)


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


def generated_password(name):
    """A password molecule.yml generated into the ephemeral directory, with the fixed suffix."""
    return (EPHEMERAL / name).read_text().split()[0] + PASSWORD_SUFFIX


@pytest.fixture(scope="session")
def fleet_password():
    """The broker password of the workers' identity (RabbitMQ's or Redis's, whichever is the broker)."""
    return generated_password({"rabbitmq": "fleet_amqp_password", "redis": "fleet_redis_password"}[BROKER_KIND])


@pytest.fixture(scope="session")
def client_password():
    """The password of the clients' identity (fleet-client) on RabbitMQ; Redis has one identity."""
    return generated_password("fleet_amqp_client_password") if BROKER_KIND == "rabbitmq" else None


@pytest.fixture(scope="session")
def monitor_password():
    """The password of the monitoring identity (fleet-monitor) on RabbitMQ; Redis has one identity."""
    return generated_password("fleet_amqp_monitor_password") if BROKER_KIND == "rabbitmq" else None


def quote(part):
    return urllib.parse.quote(part, safe="")


def amqp_url(ip, user, password, vhost, tls=TLS):
    scheme, port = ("amqps", 5671) if tls else ("amqp", 5672)
    return f"{scheme}://{quote(user)}:{quote(password)}@{ip}:{port}/{quote(vhost)}"


def identity_files(identity):
    """The certificate and key files of one of the fleet's identities (worker-<host>, client, monitor)."""
    return str(IDENTITIES / f"{identity}.crt"), str(IDENTITIES / f"{identity}.key")


def tls_options(ca_cert=CA_CERT, server_hostname=BROKER_NAME, identity="client", certfile=None, keyfile=None):
    """kombu's ssl options of a client that verifies the broker (CA and name), as the fleet's clients do; with mutual
    TLS, also the certificate of ``identity`` (None: no certificate), or ``certfile`` and ``keyfile`` when given."""
    options = {"ca_certs": str(ca_cert), "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": server_hostname}
    if certfile:
        options.update(certfile=str(certfile), keyfile=str(keyfile))
    elif MTLS and identity:
        options["certfile"], options["keyfile"] = identity_files(identity)
    return options


def redis_url(ip, user, password, db):
    """A Redis URL as the fleet's env files hold it: over TLS, with the options that verify the server."""
    if REDIS_TLS:
        options = f"ssl_cert_reqs=required&ssl_check_hostname=true&ssl_ca_certs={CA_CERT}"
        return f"rediss://{quote(user)}:{quote(password)}@{ip}:6379/{db}?{options}"
    return f"redis://{quote(user)}:{quote(password)}@{ip}:6379/{db}"


def redis_client(ip, **options):
    """A redis-py client of the Redis host, verifying its certificate as the fleet's clients do."""
    import redis

    if REDIS_TLS:
        options = {"ssl": True, "ssl_ca_certs": str(CA_CERT), "ssl_cert_reqs": "required", **options}
    return redis.Redis(host=ip, socket_timeout=5, **options)


def broker_connection(url, login_method=None, **ssl_options):
    """A broker connection as a client of the fleet opens it: TLS verified against the fleet's CA; with mutual TLS,
    the certificate of the URL's user, logged in with it (EXTERNAL) unless ``login_method`` says otherwise."""
    if not url.startswith("amqps"):
        return Connection(url, connect_timeout=10, login_method=login_method)
    user = urllib.parse.unquote(urllib.parse.urlsplit(url).username or "")
    ssl_options.setdefault("identity", IDENTITY_OF_USER.get(user, "client"))
    login_method = login_method or ("EXTERNAL" if MTLS else None)
    return Connection(url, connect_timeout=10, ssl=tls_options(**ssl_options), login_method=login_method)


def connect(url, **options):
    """Open a broker connection (broker_connection), then close it."""
    with broker_connection(url, **options) as conn:
        conn.ensure_connection(max_retries=1)
        return True


@pytest.fixture(scope="session")
def client_url(broker_ip, fleet_password, client_password):
    """The broker URL of the fleet's clients (the identity that may only send tasks and read results)."""
    if BROKER_KIND == "redis":
        return redis_url(broker_ip, "fleet", fleet_password, 0)
    return amqp_url(broker_ip, "fleet-client", client_password, "fleet")


@pytest.fixture(scope="session")
def results_url(broker_ip, fleet_password):
    return "rpc://" if RESULTS_KIND == "rpc" else redis_url(broker_ip, "fleet", fleet_password, 1)


def identity_environ(identity):
    """The env file lines that site.yml writes for ``identity`` with mutual TLS and signing (client.env.j2)."""
    cert, key = identity_files(identity)
    environ = {}
    if MTLS:
        environ.update(
            CELERY_BROKER_SSL_CERTFILE=cert, CELERY_BROKER_SSL_KEYFILE=key, CELERY_BROKER_LOGIN_METHOD="EXTERNAL"
        )
    if SIGNING:
        environ.update(CELERY_SECURITY_KEY=key, CELERY_SECURITY_CERTIFICATE=cert)
        environ.update(CELERY_SECURITY_CERT_STORE=str(IDENTITIES / "*.crt"))
    return environ


def celery_client(name, broker, backend, ca_cert=CA_CERT, identity="client"):
    """A client with only Celery and the fleet's client settings (celery_fleet_client.py): no tasks code.

    With signing, kombu's registry holds one signing key per process: the verifier's clients all sign with the key of
    the last one made, which every worker trusts.
    """
    environ = {
        **identity_environ(identity),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": backend,
        "CELERY_SERIALIZER": SERIALIZER,
        "CELERY_TASK_ROUTES": json.dumps(ROUTES),
        "CELERY_TASK_DEFAULT_QUEUE": FLEET.get("fleet_default_queue", "celery"),
        "CELERY_BROKER_SSL_CA_CERTS": str(ca_cert),
        "CELERY_BROKER_SSL_SERVER_HOSTNAME": BROKER_NAME,
    }
    app = Celery(name, set_as_current=False)
    app.conf.update(client_settings(environ), broker_connection_timeout=10, broker_connection_retry_on_startup=False)
    return app


@pytest.fixture(scope="session")
def monitor(broker_ip, fleet_password, monitor_password, results_url):
    """A client with the monitoring identity (celery inspect); on Redis, the fleet's one identity."""
    if BROKER_KIND == "redis":
        url = redis_url(broker_ip, "fleet", fleet_password, 0)
    else:
        url = amqp_url(broker_ip, "fleet-monitor", monitor_password, "fleet")
    app = celery_client("verifier-monitor", url, results_url, identity="monitor")
    yield app
    app.close()


@pytest.fixture(scope="session")
def client(client_url, results_url):
    """The fleet's client, with its routing table, connected as the client identity."""
    app = celery_client("verifier-client", client_url, results_url)
    yield app
    app.close()


def converge(hosts, *extra_args):
    """Run site.yml again on ``hosts`` (and localhost) with extra ansible-playbook arguments; return its output."""
    env = dict(
        os.environ,
        ANSIBLE_ROLES_PATH=str(PROJECT / "roles"),
        ANSIBLE_CONNECTION_PLUGINS=str(PROJECT / "plugins" / "connection"),
        ANSIBLE_FILTER_PLUGINS=str(PROJECT / "plugins" / "filter"),
        ANSIBLE_FORCE_COLOR="0",
    )
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
    # Every task that handles a secret has no_log: no generated password shows in the output of a run.
    leaked = [file.name for file in generated_secrets() if file.read_text().split()[0] in done.stdout + done.stderr]
    assert leaked == [], f"site.yml printed the secret(s) {leaked}"
    return done.stdout


def generated_secrets():
    """The files of the secrets molecule.yml generated for this run (passwords, the Erlang cookie)."""
    return [file for file in EPHEMERAL.iterdir() if file.is_file() and file.name.endswith(("_password", "_cookie"))]


def main_pid(host, unit):
    """The main process of ``unit`` on ``host`` (0 when it is not running)."""
    return int(host.check_output(f"systemctl show --property MainPID --value {unit}"))


def make_ca(directory, name="impostor CA"):
    """A CA of its own, as an attacker's or a stale deployment's: the path of its PEM certificate."""
    return self_signed(directory, name, ca=True)[0]
