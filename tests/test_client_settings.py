"""celery_fleet_client.settings(): what a client of the fleet gets from its env file's variables."""

import json
import ssl
from pathlib import Path

from celery import Celery
from celery_fleet_client import env, settings
from fleettest.certificates import self_signed

ENV = {
    "CELERY_BROKER_URL": "amqps://fleet-client:secret@mq.example.internal:5671/fleet",
    "CELERY_BROKER_SSL_CA_CERTS": "/home/me/fleet/broker-ca.pem",
    "CELERY_RESULT_BACKEND": "rpc://",
    "CELERY_TASK_DEFAULT_QUEUE": "celery",
    "CELERY_TASK_ROUTES": json.dumps({"fleet.fetch_*": "io", "report.*": {"queue": "reports"}}),
    "CELERY_SERIALIZER": "msgpack",
}


def client(environ):
    app = Celery("test-client", set_as_current=False)
    app.conf.update(settings(environ))
    return app


def test_tls_verifies_the_broker_against_the_fleets_ca():
    assert settings(ENV)["broker_use_ssl"] == {
        "ca_certs": "/home/me/fleet/broker-ca.pem",
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": None,
    }
    assert "broker_use_ssl" not in settings(dict(ENV, CELERY_BROKER_URL="amqp://u:p@mq:5672/fleet"))


def test_tasks_are_published_to_their_queues_exchange_never_declared():
    """The client identity may write to the task exchanges only: not the default exchange, no declarations."""
    app = client(ENV)
    for task, queue in (("fleet.add", "celery"), ("fleet.fetch_url", "io"), ("report.daily", "reports")):
        route = app.amqp.router.route({}, task)
        assert route["queue"].name == queue
        assert route["queue"].no_declare
        assert route["queue"].exchange.name == queue
        assert route["queue"].exchange.type != "direct"  # Celery would publish through the default exchange
        assert route["queue"].routing_key == queue


def test_message_format_follows_the_env_file():
    conf = settings(ENV)
    assert conf["task_serializer"] == conf["result_serializer"] == "msgpack"
    assert conf["accept_content"] == ["msgpack", "json"]


def test_sends_are_confirmed_retried_and_heartbeated():
    conf = client(ENV).conf
    assert conf.broker_transport_options == {"confirm_publish": True}
    assert conf.task_publish_retry is True
    assert conf.task_publish_retry_policy["max_retries"] >= 10  # spans a broker restart, not Celery's 0.6 s
    assert conf.broker_heartbeat == env.DEFAULT_HEARTBEAT
    assert client(dict(ENV, CELERY_BROKER_HEARTBEAT="30")).conf.broker_heartbeat == 30


def test_mutual_tls_presents_the_clients_certificate_and_logs_in_with_it():
    environ = dict(
        ENV,
        CELERY_BROKER_URL="amqps://fleet-client@mq.example.internal:5671/fleet",
        CELERY_BROKER_SSL_CERTFILE="/home/me/fleet/client.crt",
        CELERY_BROKER_SSL_KEYFILE="/home/me/fleet/client.key",
        CELERY_BROKER_LOGIN_METHOD="EXTERNAL",
    )
    result = settings(environ)
    assert result["broker_use_ssl"]["certfile"] == "/home/me/fleet/client.crt"
    assert result["broker_use_ssl"]["keyfile"] == "/home/me/fleet/client.key"
    assert result["broker_use_ssl"]["cert_reqs"] == ssl.CERT_REQUIRED
    assert client(environ).connection_for_write().login_method == "EXTERNAL"
    assert "broker_login_method" not in settings(ENV)


def test_signing_signs_what_is_sent_and_accepts_only_trusted_signers(tmp_path):
    import pytest
    from celery.security.certificate import Certificate
    from celery.security.key import PrivateKey
    from celery.security.serialization import SecureSerializer
    from kombu.exceptions import ContentDisallowed, DecodeError
    from kombu.serialization import dumps, loads

    trusted = tmp_path / "trusted"
    trusted.mkdir()
    cert, key = map(str, self_signed(trusted, "client", rsa_key=True))
    other_cert, other_key = self_signed(tmp_path, "stranger", rsa_key=True)
    environ = dict(
        ENV,
        CELERY_SECURITY_KEY=key,
        CELERY_SECURITY_CERTIFICATE=cert,
        CELERY_SECURITY_CERT_STORE=str(trusted / "*.crt"),
    )
    result = settings(environ)
    assert (result["task_serializer"], result["result_serializer"]) == ("auth", "auth")
    assert result["accept_content"] == result["result_accept_content"] == ["auth"]

    content_type, encoding, body = dumps({"args": [2, 3]}, serializer="auth")
    assert content_type == "application/data"
    assert loads(body, content_type, encoding, accept=["auth"]) == {"args": [2, 3]}
    # An unsigned body, and one signed by a key whose certificate is not in the store, are refused.
    json_type, json_encoding, json_body = dumps({"args": [2, 3]}, serializer="json")
    with pytest.raises(ContentDisallowed):
        loads(json_body, json_type, json_encoding, accept=["auth"])
    stranger = SecureSerializer(PrivateKey(Path(other_key).read_text()), Certificate(Path(other_cert).read_text()))
    with pytest.raises(DecodeError, match="Unknown certificate"):
        loads(stranger.serialize({"args": [2, 3]}), content_type, encoding, accept=["auth"])
