"""celery_fleet_client.py: what a client of the fleet gets from its env file."""

import json
import ssl
import sys
from pathlib import Path

from celery import Celery

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "playbooks" / "files"))
from celery_fleet_client import settings

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
