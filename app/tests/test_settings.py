"""The workers' settings module: Celery's configuration from the env contract, with the fleet's reliability settings."""

import importlib
import ssl

from celery import Celery
from celery_fleet import settings
from celery_fleet_client import env as contract


def test_serializers_are_json_only_by_default(monkeypatch):
    monkeypatch.delenv("CELERY_SERIALIZER", raising=False)
    reloaded = importlib.reload(settings)
    assert reloaded.task_serializer == "json"
    assert reloaded.result_serializer == "json"
    assert reloaded.accept_content == ["json"]
    assert reloaded.result_accept_content == ["json"]


def test_msgpack_is_selectable_and_json_still_accepted(monkeypatch):
    monkeypatch.setenv("CELERY_SERIALIZER", "msgpack")
    reloaded = importlib.reload(settings)
    assert reloaded.task_serializer == reloaded.result_serializer == "msgpack"
    assert reloaded.accept_content == ["msgpack", "json"]
    assert "pickle" not in reloaded.result_accept_content
    monkeypatch.undo()
    importlib.reload(settings)


def test_result_backend_defaults_to_rpc(monkeypatch):
    monkeypatch.delenv("CELERY_RESULT_BACKEND", raising=False)
    assert importlib.reload(settings).result_backend == "rpc://"


def test_broker_url_and_routes_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://u:p@broker:5672/fleet")
    monkeypatch.setenv("CELERY_TASK_ROUTES", '{"fleet.fetch_*": "io"}')
    reloaded = importlib.reload(settings)
    assert reloaded.broker_url == "amqp://u:p@broker:5672/fleet"
    assert reloaded.task_routes == {"fleet.fetch_*": {"queue": "io"}}
    monkeypatch.undo()
    importlib.reload(settings)


def test_an_amqps_broker_is_verified_against_the_ca_and_its_host_name(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "amqps://fleet:secret@mq.example.internal:5671/fleet")
    monkeypatch.setenv("CELERY_BROKER_SSL_CA_CERTS", "/etc/celery-fleet/broker-ca.pem")
    reloaded = importlib.reload(settings)
    assert reloaded.broker_use_ssl == {
        "ca_certs": "/etc/celery-fleet/broker-ca.pem",
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": None,  # kombu fills in the URL's host, and then checks it
    }


def test_reliability_defaults(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_HEARTBEAT", raising=False)
    monkeypatch.delenv("CELERY_TASK_DEFAULT_QUEUE_TYPE", raising=False)
    monkeypatch.delenv("CELERY_TASK_DEFAULT_EXCHANGE_TYPE", raising=False)
    reloaded = importlib.reload(settings)
    app = Celery("reliability", set_as_current=False)
    app.config_from_object(reloaded)
    conf = app.conf
    # Acknowledged after the task ran; a lost pool process means a bounded retry, never a silent loss.
    assert (conf.task_acks_late, conf.task_reject_on_worker_lost, conf.task_retry_on_worker_lost) == (True,) * 3
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert conf.broker_transport_options["confirm_publish"] is True
    assert conf.broker_connection_retry and conf.broker_connection_max_retries is None
    assert conf.broker_channel_error_retry is True
    assert conf.broker_heartbeat == contract.DEFAULT_HEARTBEAT
    assert conf.broker_pool_limit == 10  # Celery's own, unless CELERY_BROKER_POOL_LIMIT says otherwise
    assert conf.task_default_delivery_mode == "persistent"
    assert conf.task_default_queue_type == conf.task_create_missing_queue_type == "classic"
    assert conf.task_default_exchange_type == "direct"


def test_heartbeat_and_queue_type_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_HEARTBEAT", "20")
    monkeypatch.setenv("CELERY_BROKER_POOL_LIMIT", "2")
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE_TYPE", "quorum")
    monkeypatch.setenv("CELERY_TASK_DEFAULT_EXCHANGE_TYPE", "topic")
    reloaded = importlib.reload(settings)
    assert reloaded.broker_heartbeat == 20
    assert reloaded.broker_pool_limit == 2
    assert reloaded.task_default_queue_type == reloaded.task_create_missing_queue_type == "quorum"
    assert reloaded.task_default_exchange_type == reloaded.task_create_missing_queue_exchange_type == "topic"
    # Every queue a worker consumes from (-Q, routes) gets a topic exchange, not only the default queue.
    app = Celery("exchanges", set_as_current=False)
    app.config_from_object(reloaded)
    exchanges = {name: app.amqp.queues[name].exchange.type for name in ("celery", "io")}
    assert exchanges == {"celery": "topic", "io": "topic"}
    monkeypatch.undo()
    importlib.reload(settings)
