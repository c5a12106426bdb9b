"""Secure by default: each protection of the RabbitMQ fleet, proved by an attempt that must fail.

TLS with a verified certificate, no anonymous or default identities, least-privilege identities, the broker's
firewall, no code execution by message, secrets kept out of files others can read, hardened units.
"""

import json
import re
import shlex
import subprocess
import uuid

import amqp
import pytest
import testinfra
from amqp.exceptions import AccessRefused, NotAllowed
from fleettest.certificates import self_signed
from fleettest.clients import amqp_url, broker_connection, connect, make_ca, tls_options
from fleettest.sandbox import OK_EXPOSURE, exposure
from fleettest.scenario import (
    BROKER,
    CA_CERT,
    EPHEMERAL,
    IDENTITIES,
    MTLS,
    NETWORK,
    PASSWORD_SUFFIX,
    mtls_only,
    password_login_only,
    rabbitmq_only,
    signing_only,
)
from fleettest.wait import wait_for
from kombu import Producer
from kombu.exceptions import OperationalError

pytestmark = rabbitmq_only


def port_open(host, address, port):
    """Whether a TCP connection from ``host`` (a testinfra host) to address:port is accepted."""
    probe = f"import socket,sys\ns = socket.socket(); s.settimeout(5)\nsys.exit(s.connect_ex(({address!r}, {port})))\n"
    return host.run(f"python3 -c {shlex.quote(probe)}").rc == 0


def wait_for_broker_log(broker, pattern, timeout=15):
    """The broker's log once ``pattern`` appears in it (RabbitMQ writes its log asynchronously)."""

    def log():
        return broker.check_output("cat /var/log/rabbitmq/rabbit@*.log")

    def log_with_pattern():
        text = log()
        return text if re.search(pattern, text) else None

    return wait_for(log_with_pattern, timeout, what=lambda: f"{pattern!r} in the broker's log: {log()[-2000:]}")


# --- TLS ----------------------------------------------------------------------------------------------------------


def test_amqp_over_tls_listens_and_plain_amqp_only_on_loopback(broker):
    assert broker.socket("tcp://0.0.0.0:5671").is_listening
    assert broker.socket("tcp://127.0.0.1:5672").is_listening
    assert not broker.socket("tcp://0.0.0.0:5672").is_listening


def test_plain_amqp_from_a_worker_fails(worker1):
    assert port_open(worker1, BROKER, 5671)
    assert not port_open(worker1, BROKER, 5672)


def test_every_worker_connection_uses_tls(broker):
    rows = broker.check_output("rabbitmqctl -q list_connections user ssl ssl_protocol auth_mechanism").splitlines()[1:]
    assert rows, "no connections"
    assert all(row.split("\t")[1] == "true" for row in rows), rows
    assert all(row.split("\t")[2] in ("tlsv1.3", "tlsv1.2") for row in rows), rows
    # With mutual TLS, every connection logged in with its certificate, none with a password.
    assert all(row.split("\t")[3] == ("EXTERNAL" if MTLS else "PLAIN") for row in rows), rows


def test_a_client_with_another_ca_refuses_the_broker(broker_ip, client_password, tmp_path):
    url = amqp_url(broker_ip, "fleet-client", client_password, "fleet")
    assert connect(url)
    with pytest.raises(OperationalError, match=r"CERTIFICATE_VERIFY_FAILED.*self-signed certificate"):
        connect(url, ca_cert=make_ca(tmp_path))


def test_a_broker_certificate_for_another_name_is_refused(broker_ip, client_password):
    url = amqp_url(broker_ip, "fleet-client", client_password, "fleet")
    with pytest.raises(OperationalError, match=r"CERTIFICATE_VERIFY_FAILED.*Hostname mismatch"):
        connect(url, server_hostname="not-the-broker")


def test_the_ca_key_stays_private_on_the_control_node():
    assert (EPHEMERAL / "pki" / "ca.key").stat().st_mode & 0o077 == 0
    assert (EPHEMERAL / "pki").stat().st_mode & 0o077 == 0
    assert CA_CERT.exists()


def test_the_broker_key_is_readable_by_rabbitmq_only(broker):
    key = broker.file("/etc/rabbitmq/tls/key.pem")
    assert (key.user, key.group, key.mode) == ("root", "rabbitmq", 0o640)


# --- identities -----------------------------------------------------------------------------------------------


def test_anonymous_login_is_not_offered(broker_ip):
    conn = amqp.Connection(
        f"{broker_ip}:5671",
        virtual_host="fleet",
        ssl=tls_options(),
        login_method=b"ANONYMOUS",
        login_response=b"",
        connect_timeout=10,
    )
    with pytest.raises(amqp.exceptions.ConnectionError, match="find appropriate auth mechanism") as refused:
        conn.connect()
    offered = re.search(r"available: ([A-Z, ]+)", str(refused.value)).group(1).split(", ")
    # With mutual TLS, no password login either: the certificate is the identity.
    assert sorted(offered) == (["EXTERNAL"] if MTLS else ["AMQPLAIN", "PLAIN"])


def test_broker_identities_are_the_fleets_only(broker):
    users = {line.split("\t")[0] for line in broker.check_output("rabbitmqctl -q list_users").splitlines()[1:]}
    # The fleet's three identities, and the one user the inventory adds (fleet_rabbitmq_extra_users).
    assert users == {"fleet", "fleet-client", "fleet-monitor", "fleet-audit"}


@password_login_only
def test_wrong_password_is_refused_and_logged(broker, broker_ip, client_password):
    with pytest.raises(AccessRefused):
        connect(amqp_url(broker_ip, "fleet-client", client_password + "x", "fleet"))
    wait_for_broker_log(broker, r"login refused: user 'fleet-client' - invalid credentials")


def test_unknown_vhost_is_refused_and_logged(broker, broker_ip, client_password):
    with pytest.raises(NotAllowed, match="vhost nope not found"):
        connect(amqp_url(broker_ip, "fleet-client", client_password, "nope"))
    wait_for_broker_log(broker, r"vhost 'nope' not found|vhost nope not found")


def test_the_client_identity_cannot_consume_purge_or_delete_a_task_queue(broker_ip, client_password):
    with broker_connection(amqp_url(broker_ip, "fleet-client", client_password, "fleet")) as conn:
        for attempt in (
            lambda channel: channel.basic_consume("celery", callback=print),
            lambda channel: channel.basic_get("celery"),
            lambda channel: channel.queue_purge("celery"),
            lambda channel: channel.queue_delete("celery"),
        ):
            with pytest.raises(AccessRefused, match="refused for user 'fleet-client'"):
                attempt(conn.channel())


def test_the_client_identity_cannot_send_remote_control_commands(broker_ip, client_password):
    with broker_connection(amqp_url(broker_ip, "fleet-client", client_password, "fleet")) as conn:
        producer = Producer(conn.channel())
        with pytest.raises(AccessRefused, match=r"exchange 'celery\.pidbox'"):
            producer.publish({"method": "shutdown"}, exchange="celery.pidbox", routing_key="")
            conn.drain_events(timeout=2)  # the refusal arrives asynchronously, as a channel close


def test_the_worker_identity_cannot_enter_another_vhost(broker_ip, fleet_password):
    with pytest.raises(NotAllowed, match="access to vhost '/' refused for user 'fleet'"):
        connect(amqp_url(broker_ip, "fleet", fleet_password, "/"))


def test_the_monitoring_identity_can_inspect_but_not_touch_tasks(broker_ip, monitor_password, monitor):
    replies = monitor.control.ping(timeout=5)
    assert {name for reply in replies for name in reply} == {"default@worker1", "io@worker2"}
    url = amqp_url(broker_ip, "fleet-monitor", monitor_password, "fleet")
    with broker_connection(url) as conn, pytest.raises(AccessRefused):
        conn.channel().basic_get("celery")


@mtls_only
def test_a_client_without_a_certificate_is_refused_and_logged(broker, broker_ip, client_password):
    url = amqp_url(broker_ip, "fleet-client", client_password, "fleet")
    for login_method in ("EXTERNAL", "PLAIN"):
        with pytest.raises(OperationalError, match=r"(?i)certificate.required|EOF|reset"):
            connect(url, identity=None, login_method=login_method)
    wait_for_broker_log(broker, r"(?i)certificate.required|no.peer.cert")


@mtls_only
def test_a_client_certificate_from_another_ca_is_refused(broker_ip, client_password, tmp_path):
    """A certificate for the client's user name, signed by a CA the fleet did not make."""
    cert, key = self_signed(tmp_path, "fleet-client")
    url = amqp_url(broker_ip, "fleet-client", client_password, "fleet")
    with pytest.raises(OperationalError, match=r"(?i)unknown.ca|certificate|EOF|reset"):
        connect(url, certfile=cert, keyfile=key)


@mtls_only
def test_each_worker_host_has_its_own_certificate(worker1, worker2):
    serials = set()
    for host in (worker1, worker2):
        key = host.file("/etc/celery-fleet/identity.key")
        assert (key.user, key.group, key.mode) == ("root", "celery", 0o440)
        serials.add(host.check_output("openssl x509 -noout -serial -in /etc/celery-fleet/identity.crt"))
    assert len(serials) == 2
    assert (IDENTITIES / "client.key").stat().st_mode & 0o077 == 0


# --- signed messages ------------------------------------------------------------------------------------------


def publish_task(client, body, content_type):
    """Publish a fleet.add message with ``body`` straight to the default queue, as anyone allowed to publish could;
    return its task id."""
    task_id = str(uuid.uuid4())
    headers = {"lang": "py", "task": "fleet.add", "id": task_id, "root_id": task_id, "retries": 0}
    with client.connection_for_write() as connection:
        connection.Producer().publish(
            body,
            content_type=content_type,
            content_encoding="utf-8",
            exchange="celery",
            routing_key="celery",
            headers=headers,
        )
    return task_id


def wait_for_journal(host, unit, text, timeout=60):

    def journal():
        return host.check_output(f"journalctl --no-pager -u {unit} --since -3min")

    def journal_with_text():
        log = journal()
        return log if text in log else None

    return wait_for(
        journal_with_text, timeout, interval=1, what=lambda: f"{text!r} in the journal of {unit}: {journal()[-2000:]}"
    )


@signing_only
def test_an_unsigned_task_is_refused_and_the_worker_keeps_running(client, worker1):
    task_id = publish_task(client, json.dumps([[2, 3], {}, {}]), "application/json")
    journal = wait_for_journal(
        worker1, "celery-worker-default", "Refusing to deserialize untrusted content of type json"
    )
    assert f"[{task_id}] received" not in journal
    assert client.send_task("fleet.add", args=[1, 1]).get(timeout=60) == 2


@signing_only
def test_a_task_signed_with_a_key_the_fleet_did_not_issue_is_refused(client, worker1, tmp_path):
    from celery.security.certificate import Certificate
    from celery.security.key import PrivateKey
    from celery.security.serialization import SecureSerializer

    cert, key = self_signed(tmp_path, "fleet-client", rsa_key=True)
    body = [[2, 3], {}, {}]
    # An unknown signer; then a forgery: the fleet client's certificate named as the signer, another key's signature.
    unknown = SecureSerializer(PrivateKey(key.read_text()), Certificate(cert.read_text())).serialize(body)
    client_cert = Certificate((IDENTITIES / "client.crt").read_text())
    forged = SecureSerializer(PrivateKey(key.read_text()), client_cert).serialize(body)
    task_ids = [publish_task(client, payload, "application/data") for payload in (unknown, forged)]
    # The worker logs each refused message with its headers (the task id) and the reason.
    journal = wait_for_journal(worker1, "celery-worker-default", "Unknown certificate")
    for task_id in task_ids:
        journal = wait_for_journal(worker1, "celery-worker-default", task_id)
    assert journal.count("Can't decode message body") >= 2
    assert all(f"[{task_id}] received" not in journal for task_id in task_ids)
    assert client.send_task("fleet.add", args=[2, 2]).get(timeout=60) == 4


@signing_only
def test_tasks_and_results_travel_signed(client, worker1):
    """What the fleet's client sends, and what comes back, is Celery's auth serializer, signed and verified."""
    assert client.conf.task_serializer == "auth"
    assert client.conf.result_accept_content == ["auth"]
    assert client.send_task("fleet.add", args=[3, 4]).get(timeout=60) == 7
    env = worker1.file("/etc/celery-fleet/worker.env").content_string
    assert "CELERY_SECURITY_KEY=" in env
    assert len(worker1.check_output("ls /etc/celery-fleet/trusted-signers").split()) == 4  # 2 workers, client, monitor


# --- firewall -------------------------------------------------------------------------------------------------


def container_image():
    return subprocess.run(
        ["podman", "inspect", BROKER, "--format", "{{.ImageName}}"], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_a_machine_outside_the_inventory_cannot_reach_the_broker():
    """A container on the fleet's own network, but not in the inventory, is refused on every broker port."""
    probe = (
        "import socket\n"
        "for port in (5671, 5672, 15672, 4369, 25672):\n"
        "    s = socket.socket(); s.settimeout(5)\n"
        f"    print(port, s.connect_ex(({BROKER!r}, port)))\n"
    )
    done = subprocess.run(
        ["podman", "run", "--rm", "--network", NETWORK, container_image(), "python3", "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = dict(line.split() for line in done.stdout.splitlines())
    assert results and all(code != "0" for code in results.values()), results


def test_erlang_distribution_ports_are_closed_to_workers(worker1):
    for port in (4369, 25672):
        assert not port_open(worker1, BROKER, port), port


def test_the_firewall_comes_back_at_boot(broker):
    service = broker.service("rabbitmq-firewall")
    assert service.is_enabled
    assert "celery_fleet_rabbitmq" in broker.check_output("nft list tables")


# --- secrets --------------------------------------------------------------------------------------------------


# The first broker only: a cluster's nodes are set up alike, and each search reads a whole host.
@pytest.mark.parametrize("name", [BROKER, "worker1", "worker2"])
def test_no_password_is_in_a_file_others_can_read(name):
    """The generated part of every password, searched on the whole host (except /proc and /sys)."""
    host = testinfra.get_host(f"podman://{name}")
    secrets = [
        (EPHEMERAL / file).read_text().split()[0]
        for file in ("fleet_amqp_password", "fleet_amqp_client_password", "fleet_amqp_monitor_password")
    ]
    patterns = " ".join(f"-e {secret}" for secret in secrets)
    found = host.run(
        f"grep -rlF {patterns} / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null"
    ).stdout.split()
    readable = [path for path in found if host.file(path).mode & 0o004 or path.endswith(".service")]
    assert readable == [], readable
    assert PASSWORD_SUFFIX


# --- units ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "unit"),
    [("worker1", "celery-worker-default"), ("worker2", "celery-worker-io"), ("worker2", "celery-beat")],
)
def test_units_are_sandboxed_to_an_ok_exposure(request, name, unit):
    score, report = exposure(request.getfixturevalue(name), unit)
    assert score <= OK_EXPOSURE, report
