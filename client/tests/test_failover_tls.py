"""Two connections of one app, to two brokers with their own certificates: each is checked against its own name.

Real TLS servers on two loopback addresses (each certificate names only its own), real kombu connections
sharing one ``broker_use_ssl`` dict, as a Celery app's connections do.
"""

import datetime
import ipaddress
import socket
import ssl
import threading

import pytest
from celery_fleet_client import env
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kombu import Connection


def _certificate(directory, name, address):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class _TLSServer:
    """Accepts one connection, completes the TLS handshake (or records that it failed), then hangs up."""

    def __init__(self, address, cert_file, key_file):
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server((address, 0))
        self.port = self.listener.getsockname()[1]
        self.handshakes = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.listener.settimeout(20)
        with self.listener, self.listener.accept()[0] as raw:
            try:
                with self.context.wrap_socket(raw, server_side=True):
                    self.handshakes += 1
            except (ssl.SSLError, OSError):
                pass


@pytest.fixture()
def two_brokers(tmp_path):
    # Linux answers on all of 127.0.0.0/8; kombu would rewrite "localhost" to 127.0.0.1, so addresses it is.
    first = _TLSServer("127.0.0.1", *_certificate(tmp_path, "first", "127.0.0.1"))
    second = _TLSServer("127.0.0.2", *_certificate(tmp_path, "second", "127.0.0.2"))
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes((tmp_path / "first.crt").read_bytes() + (tmp_path / "second.crt").read_bytes())
    return first, second, bundle


def _connect(url, options):
    """Connect once: the servers speak no AMQP, so the connection fails, after the TLS handshake or in it."""
    connection = Connection(url, ssl=options, connect_timeout=5)
    with pytest.raises(Exception):  # noqa: B017 (whatever AMQP error; the servers count the handshakes)
        connection.connect()
    connection.release()


def test_each_connection_checks_the_name_it_dials(two_brokers):
    first, second, bundle = two_brokers
    url = f"amqps://127.0.0.1:{first.port}//;amqps://127.0.0.2:{second.port}//"
    fleet = env.read({"CELERY_BROKER_URL": url, "CELERY_BROKER_SSL_CA_CERTS": str(bundle)})
    options = env.broker_use_ssl(fleet)
    assert options["server_hostname"] is None

    _connect(f"amqps://127.0.0.1:{first.port}//", options)
    # Without the workaround kombu has written 127.0.0.1 into ``options`` by now, and this handshake fails:
    # "Hostname mismatch, certificate is not valid for '127.0.0.1'".
    _connect(f"amqps://127.0.0.2:{second.port}//", options)
    first.thread.join(5)
    second.thread.join(5)
    assert (first.handshakes, second.handshakes) == (1, 1)
    assert options["server_hostname"] is None
