"""Broker URLs, connections and Celery clients of the molecule fleet, made as the fleet's own clients make them.

The clients have no access to the tasks package (app/): they know the broker URL and task names only, like any
client of a real fleet, and take their settings from the client library (celery_fleet_client). They reach the
broker across the scenario's podman network.
"""

import json
import ssl
import urllib.parse

from celery import Celery
from celery_fleet_client import settings as client_settings
from kombu import Connection

from fleettest.certificates import self_signed
from fleettest.scenario import (
    BROKER_NAME,
    CA_CERT,
    DEFAULT_QUEUE,
    EXCHANGE_TYPE,
    IDENTITIES,
    MTLS,
    QUEUE_TYPE,
    REDIS_TLS,
    ROUTES,
    SERIALIZER,
    SIGNING,
    TLS,
)

# The identity the verifier presents for each broker user (worker1's certificate for the workers' user).
IDENTITY_OF_USER = {"fleet": "worker-worker1", "fleet-client": "client", "fleet-monitor": "monitor"}


def quote(part):
    return urllib.parse.quote(part, safe="")


def amqp_url(ip, user, password, vhost, tls=TLS):
    scheme, port = ("amqps", 5671) if tls else ("amqp", 5672)
    return f"{scheme}://{quote(user)}:{quote(password)}@{ip}:{port}/{quote(vhost)}"


def amqp_failover_url(ips, user, password, vhost, tls=TLS):
    """One broker URL for several brokers (a cluster's nodes), as the fleet writes it: each one's, ';'-separated."""
    return ";".join(amqp_url(ip, user, password, vhost, tls) for ip in ips)


def redis_url(ip, user, password, db):
    """A Redis URL as the fleet's env files hold it: over TLS, with the options that verify the server."""
    if REDIS_TLS:
        options = f"ssl_cert_reqs=required&ssl_check_hostname=true&ssl_ca_certs={CA_CERT}"
        return f"rediss://{quote(user)}:{quote(password)}@{ip}:6379/{db}?{options}"
    return f"redis://{quote(user)}:{quote(password)}@{ip}:6379/{db}"


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
    """A client with only Celery and the fleet's client library (celery_fleet_client): no tasks code.

    With signing, kombu's registry holds one signing key per process: the verifier's clients all sign with the key of
    the last one made, which every worker trusts.
    """
    environ = {
        **identity_environ(identity),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": backend,
        "CELERY_SERIALIZER": SERIALIZER,
        "CELERY_TASK_ROUTES": json.dumps(ROUTES),
        "CELERY_TASK_DEFAULT_QUEUE": DEFAULT_QUEUE,
        "CELERY_TASK_DEFAULT_QUEUE_TYPE": QUEUE_TYPE,
        "CELERY_TASK_DEFAULT_EXCHANGE_TYPE": EXCHANGE_TYPE,
        "CELERY_BROKER_SSL_CA_CERTS": str(ca_cert),
    }
    if BROKER_NAME:
        environ["CELERY_BROKER_SSL_SERVER_HOSTNAME"] = BROKER_NAME
    app = Celery(name, set_as_current=False)
    app.conf.update(client_settings(environ), broker_connection_timeout=10, broker_connection_retry_on_startup=False)
    return app


def make_ca(directory, name="impostor CA"):
    """A CA of its own, as an attacker's or a stale deployment's: the path of its PEM certificate."""
    return self_signed(directory, name, ca=True)[0]
