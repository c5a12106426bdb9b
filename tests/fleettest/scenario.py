"""What the molecule scenario under test deployed, and the marks that skip tests it does not apply to.

Read from the inventory that molecule wrote for the run (MOLECULE_INVENTORY_FILE and its group_vars/all, the
merge of .config/molecule/config.yml and the scenario's molecule.yml): the verifier tests what was deployed, not
what an environment flag says. ``converge`` runs site.yml again on the scenario's containers.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
_INVENTORY = Path(os.environ.get("MOLECULE_INVENTORY_FILE", EPHEMERAL / "inventory" / "ansible_inventory.yml"))
_GROUP_VARS = _INVENTORY.parent / "group_vars" / "all"
FLEET = yaml.safe_load(_GROUP_VARS.read_text()) if _GROUP_VARS.exists() else {}

# The shared base config's fixed suffix of every generated password: it proves the URLs are encoded.
PASSWORD_SUFFIX = "/@:%#?&"  # noqa: S105 (not a secret: a fixed suffix of the generated test passwords)
NETWORK = FLEET.get("molecule_network", "")
ROUTES = FLEET.get("fleet_task_routes", {})
DEFAULT_QUEUE = FLEET.get("fleet_default_queue", "celery")
BROKER_KIND = FLEET.get("fleet_broker", "rabbitmq")
RESULTS_KIND = FLEET.get("fleet_results", "rpc")
SERIALIZER = FLEET.get("fleet_serializer", "json")
BROKER_SERVICE = {"rabbitmq": "rabbitmq-server", "redis": "redis-server"}[BROKER_KIND]
# AMQP over TLS (the default): the verifier trusts the fleet's CA, made by site.yml into fleet_pki_dir.
TLS = BROKER_KIND == "rabbitmq" and FLEET.get("fleet_tls", True)
# Redis over TLS, where Redis is used: its certificate also names the broker container's address, since redis-py
# checks the name it connects to.
REDIS_TLS = FLEET.get("fleet_tls", True)
CA_CERT = EPHEMERAL / "pki" / "ca.crt"
# Mutual TLS (each connection presents a certificate from the fleet's CA and logs in with it, EXTERNAL) and signed
# messages: the identities' keys and certificates are in the PKI directory site.yml made.
MTLS = TLS and FLEET.get("fleet_tls_client_certs", False) is True
SIGNING = FLEET.get("fleet_message_signing", False) is True
IDENTITIES = EPHEMERAL / "pki" / "identities"
# The broker hosts (one, or a cluster's nodes) as the inventory lists them; BROKER is the first.
_HOSTS = yaml.safe_load(_INVENTORY.read_text()) if _INVENTORY.exists() else {}
# Molecule writes each group as a top-level key of its inventory (``broker: {hosts: {broker1: ...}}``).
BROKERS = list((_HOSTS.get("broker") or {}).get("hosts") or {"broker": {}})
BROKER = BROKERS[0]
CLUSTER = BROKER_KIND == "rabbitmq" and len(BROKERS) > 1
# The monitor host (Prometheus), if the scenario has one, and every host of the fleet (what its node exporters are).
MONITOR = next(iter((_HOSTS.get("monitor") or {}).get("hosts") or {}), None)
FLEET_HOSTS = sorted((_HOSTS.get("all") or {}).get("hosts") or {})


def _host_vars(name):
    path = _INVENTORY.parent / "host_vars" / name
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


# Every worker node of the fleet, as Celery names it: "<worker group>@<host>" for each group a worker host serves
# (fleet_worker_serves; every group when a host does not say).
WORKER_HOSTS = sorted((_HOSTS.get("workers") or {}).get("hosts") or {})
WORKER_NODES = tuple(
    f"{group}@{host}"
    for host in WORKER_HOSTS
    for group in _host_vars(host).get("fleet_worker_serves", list(FLEET.get("fleet_worker_groups", {})))
)
# The task queues' type: the inventory's, else quorum on a cluster and classic on one broker (as the fleet does).
QUEUE_TYPE = FLEET.get("fleet_queue_type", "quorum" if CLUSTER else "classic")
# And their exchanges' type: the inventory's, else topic on a cluster and direct on one broker.
EXCHANGE_TYPE = FLEET.get("fleet_task_exchange_type", "topic" if CLUSTER else "direct")
# The verifier connects to each broker container's address, from outside its network: each broker's certificate
# also names that address (the base config's fleet_tls_broker_names), so kombu checks each URL's own host (None).
BROKER_NAME = None

mtls_only = pytest.mark.skipif(not MTLS, reason="mutual TLS is off in this scenario (fleet_tls_client_certs)")
password_login_only = pytest.mark.skipif(MTLS, reason="with mutual TLS the certificate is the identity, not a password")
signing_only = pytest.mark.skipif(not SIGNING, reason="message signing is off in this scenario (fleet_message_signing)")
rabbitmq_only = pytest.mark.skipif(BROKER_KIND != "rabbitmq", reason="the fleet's broker is not RabbitMQ")
redis_only = pytest.mark.skipif(BROKER_KIND != "redis", reason="the fleet's broker is not Redis")
monitoring_only = pytest.mark.skipif(MONITOR is None, reason="the scenario has no monitor host (fleet_monitor_group)")
cluster_only = pytest.mark.skipif(not CLUSTER, reason="the fleet's broker is one RabbitMQ node, not a cluster")


def generated_password(name):
    """A password the base config generated into the ephemeral directory, with the fixed suffix."""
    return (EPHEMERAL / name).read_text().split()[0] + PASSWORD_SUFFIX


def generated_secrets():
    """The files of the secrets generated for this run (passwords, the Erlang cookie)."""
    return [file for file in EPHEMERAL.iterdir() if file.is_file() and file.name.endswith(("_password", "_cookie"))]


def converge_env():
    """The environment of an ansible-playbook run of site.yml against the scenario (the project's plugins)."""
    return dict(
        os.environ,
        ANSIBLE_ROLES_PATH=str(PROJECT / "roles"),
        ANSIBLE_CONNECTION_PLUGINS=str(PROJECT / "plugins" / "connection"),
        ANSIBLE_FILTER_PLUGINS=str(PROJECT / "plugins" / "filter"),
        ANSIBLE_LIBRARY=str(PROJECT / "plugins" / "modules"),
        ANSIBLE_FORCE_COLOR="0",
    )


def converge_command(hosts, *extra_args, playbook="site.yml"):
    """The command that runs ``playbook`` (site.yml) again on ``hosts`` (and localhost) with extra ansible-playbook
    arguments."""
    return [
        shutil.which("ansible-playbook"),
        "-i",
        str(_INVENTORY),
        str(PROJECT / playbook),
        "--limit",
        ",".join(["localhost", *hosts]),
        *extra_args,
    ]


def run_converge(hosts, *extra_args, playbook="site.yml"):
    """Run ``playbook`` (site.yml) again on ``hosts``; return the finished process, whether it passed or not."""
    done = subprocess.run(
        converge_command(hosts, *extra_args, playbook=playbook),
        env=converge_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    # Every task that handles a secret has no_log: no generated password shows in the output of a run.
    leaked = [file.name for file in generated_secrets() if file.read_text().split()[0] in done.stdout + done.stderr]
    assert leaked == [], f"site.yml printed the secret(s) {leaked}"
    return done


def converge(hosts, *extra_args, playbook="site.yml"):
    """Run ``playbook`` (site.yml) again on ``hosts`` (and localhost) with extra ansible-playbook arguments; return
    its output."""
    done = run_converge(hosts, *extra_args, playbook=playbook)
    assert done.returncode == 0, failure_excerpt(done.stdout + "\n" + done.stderr)
    return done.stdout


def recap_changes(output):
    """``{host: changed}`` of the PLAY RECAP at the end of an ansible-playbook ``output``."""
    recap = output.split("PLAY RECAP")[-1]
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", recap, re.M)}


def failure_excerpt(output, context=12, tail=40):
    """The lines of an ansible-playbook ``output`` that say what failed (each with the task before it), then its tail.

    A failed run's last lines are the recap; the task that failed may be hundreds of lines earlier.
    """
    lines = output.splitlines()
    marks = ("fatal:", "failed:", "[ERROR]", "An exception occurred")
    picked = []
    for index, line in enumerate(lines):
        if line.lstrip().startswith(marks):
            picked.extend(range(max(0, index - context), min(len(lines), index + context)))
    failing = [lines[index] for index in dict.fromkeys(picked)]
    return "\n".join([*failing, "[... the run's last lines:]", *lines[-tail:]])


def main_pid(host, unit):
    """The main process of ``unit`` on ``host`` (0 when it is not running)."""
    return int(host.check_output(f"systemctl show --property MainPID --value {unit}"))
