"""playbooks/pki.yml: the fleet's CA and the broker's certificate, made on the control node, and their renewal.

Runs the real playbook on this machine (localhost; the inventory's hosts are never contacted), then checks the files
with cryptography. The last test shows what the 30-day renewal prevents: a broker presenting an expired certificate
is refused by a client with the fleet's client settings (celery_fleet_client), over a real TLS handshake.
"""

import datetime
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from celery_fleet_client import settings as client_settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from kombu import Connection
from kombu.exceptions import OperationalError

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")

BROKER = "mq1.example.internal"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """An inventory (a broker reached as BROKER, clients through 127.0.0.1) and a function that runs pki.yml."""
    root = tmp_path_factory.mktemp("pki")
    hosts = {
        "all": {
            "vars": {
                "fleet_pki_dir": str(root / "pki"),
                "fleet_client_broker_address": "127.0.0.1",
                # Every play validates the fleet's inputs, and this one is required.
                "fleet_worker_groups": {"default": {"queues": ["celery"]}},
            },
            "children": {"broker": {"hosts": {"mq1": {"ansible_host": BROKER}}}, "workers": {"hosts": {"w1": {}}}},
        }
    }
    inventory = root / "hosts.yml"
    inventory.write_text(yaml.safe_dump(hosts))

    def run(*args):
        done = subprocess.run(
            [str(PLAYBOOK_BIN), "-i", str(inventory), "playbooks/pki.yml", *args],
            cwd=REPO,
            env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        return done.stdout

    run.dir = root / "pki"
    run.first_output = run()
    return run


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_ca_signs_a_broker_certificate_for_every_name_it_is_reached_by(pki):
    ca, broker = load(pki.dir / "ca.crt"), load(pki.dir / "broker.crt")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    broker.verify_directly_issued_by(ca)
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"mq1", BROKER}
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert pki.dir.stat().st_mode & 0o777 == 0o700
    assert (pki.dir / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (pki.dir / "broker.key").stat().st_mode & 0o777 == 0o600


def test_a_second_run_changes_nothing(pki):
    assert "changed=0" in pki()


def sign(pki, not_after):
    """A broker certificate like the fleet's, with its own validity, signed by the fleet's CA."""
    ca = load(pki.dir / "ca.crt")
    ca_key = serialization.load_pem_private_key((pki.dir / "ca.key").read_bytes(), password=None)
    current = load(pki.dir / "broker.crt")
    cert = (
        x509.CertificateBuilder()
        .subject_name(current.subject)
        .issuer_name(ca.subject)
        .public_key(current.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - datetime.timedelta(days=400))
        .not_valid_after(not_after)
        .add_extension(current.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_certificate_about_to_expire_is_renewed(pki):
    now = datetime.datetime.now(datetime.UTC)
    (pki.dir / "broker.crt").write_bytes(sign(pki, now + datetime.timedelta(days=10)))
    output = pki()
    assert "changed=1" in output, output[-2000:]
    assert load(pki.dir / "broker.crt").not_valid_after_utc > now + datetime.timedelta(days=800)


def test_a_broker_with_an_expired_certificate_is_refused_by_the_fleets_clients(pki, tmp_path):
    expired = tmp_path / "expired.pem"
    expired.write_bytes(sign(pki, datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(expired, pki.dir / "broker.key")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one_handshake():
        connection, _ = listener.accept()
        try:
            with server_context.wrap_socket(connection, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass  # the client hangs up on the certificate: the point of the test

    server = threading.Thread(target=serve_one_handshake, daemon=True)
    server.start()
    conf = client_settings(
        {
            "CELERY_BROKER_URL": f"amqps://fleet-client:secret@127.0.0.1:{port}/fleet",
            "CELERY_BROKER_SSL_CA_CERTS": str(pki.dir / "ca.crt"),
        }
    )
    with pytest.raises(OperationalError, match="certificate has expired"):
        Connection(conf["broker_url"], ssl=conf["broker_use_ssl"], connect_timeout=5).ensure_connection(max_retries=0)
    server.join(timeout=5)
    listener.close()


def test_identities_for_client_certificates_and_signing(pki):
    """fleet_tls_client_certs / fleet_message_signing: an RSA identity per worker host, for clients and monitoring,
    signed by the fleet's CA for client authentication; the common name is the broker user it logs in as."""
    switch = ["-e", "fleet_message_signing=true"]
    assert "changed=0" not in pki(*switch)
    ca = load(pki.dir / "ca.crt")
    users = {
        "worker-w1": ("fleet", "w1"),
        "client": ("fleet-client", "clients"),
        "monitor": ("fleet-monitor", "monitoring"),
    }
    for name, (user, unit) in users.items():
        cert = load(pki.dir / "identities" / f"{name}.crt")
        cert.verify_directly_issued_by(ca)
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == user
        assert cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == unit
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [x509.ExtendedKeyUsageOID.CLIENT_AUTH]
        key = serialization.load_pem_private_key((pki.dir / "identities" / f"{name}.key").read_bytes(), None)
        assert key.key_size == 3072  # RSA: Celery's auth serializer signs with RSA keys only
        assert (pki.dir / "identities" / f"{name}.key").stat().st_mode & 0o777 == 0o600
    assert "changed=0" in pki(*switch)
