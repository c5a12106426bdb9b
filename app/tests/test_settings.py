import importlib
import ssl

import pytest
from celery import Celery
from celery_fleet import settings


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


def test_pickle_is_refused_unless_explicitly_allowed():
    with pytest.raises(ValueError, match="CELERY_ALLOW_PICKLE=true"):
        settings.parse_serializer("pickle", None)
    with pytest.raises(ValueError, match="CELERY_ALLOW_PICKLE=true"):
        settings.parse_serializer("pickle", "no")
    assert settings.parse_serializer("pickle", "true") == "pickle"
    with pytest.raises(ValueError, match="must be one of"):
        settings.parse_serializer("yaml", None)


def test_beat_schedule_from_json():
    schedule = settings.parse_beat_schedule(
        '{"tick": {"task": "fleet.tick", "every": 5, "queue": "io"},'
        ' "nightly": {"task": "fleet.add", "crontab": "0 3 * * 1-5", "args": [1, 2]}}'
    )
    assert schedule["tick"]["schedule"] == 5.0
    assert schedule["tick"]["options"] == {"queue": "io"}
    nightly = schedule["nightly"]["schedule"]
    assert nightly.minute == {0}
    assert nightly.hour == {3}
    assert nightly.day_of_week == {1, 2, 3, 4, 5}
    assert schedule["nightly"]["args"] == (1, 2)
    assert settings.parse_beat_schedule("") == {}


@pytest.mark.parametrize(
    "raw",
    [
        "[]",
        '{"x": {"every": 5}}',
        '{"x": {"task": "t"}}',
        '{"x": {"task": "t", "every": 5, "crontab": "* * * * *"}}',
        '{"x": {"task": "t", "every": 0}}',
        '{"x": {"task": "t", "crontab": "* * *"}}',
    ],
)
def test_beat_schedule_rejects_bad_entries(raw):
    with pytest.raises(ValueError, match="CELERY_BEAT_SCHEDULE"):
        settings.parse_beat_schedule(raw)


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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {}),
        ("  ", {}),
        ('{"web.*": "web_queue"}', {"web.*": {"queue": "web_queue"}}),
        ('{"a.b": {"queue": "q", "priority": 5}}', {"a.b": {"queue": "q", "priority": 5}}),
    ],
)
def test_parse_routes(raw, expected):
    assert settings.parse_routes(raw) == expected


@pytest.mark.parametrize("raw", ['["web.*"]', '{"web.*": ""}', '{"web.*": {"exchange": "x"}}'])
def test_parse_routes_rejects_routes_without_a_queue(raw):
    with pytest.raises(ValueError, match="CELERY_TASK_ROUTES"):
        settings.parse_routes(raw)


def route_of(task_name, routes):
    """Where a client configured with ``routes`` sends ``task_name`` (Celery's own router decides)."""
    client = Celery(set_as_current=False)
    client.conf.task_default_queue = settings.DEFAULT_QUEUE
    client.conf.task_routes = settings.parse_routes(routes)
    return client.amqp.router.route({}, task_name)["queue"].name


def test_prefix_routes_send_matching_tasks_to_their_queue():
    routes = '{"web.*": "web_queue", "remote.*": "remote_queue"}'
    assert route_of("web.render", routes) == "web_queue"
    assert route_of("remote.fetch", routes) == "remote_queue"


def test_unrouted_tasks_go_to_the_default_queue():
    assert route_of("fleet.add", '{"fleet.fetch_*": "io"}') == "celery"
    assert route_of("fleet.fetch_url", '{"fleet.fetch_*": "io"}') == "io"


def test_first_matching_pattern_wins():
    assert route_of("fleet.fetch_url", '{"fleet.fetch_*": "io", "fleet.*": "cpu"}') == "io"
    assert route_of("fleet.add", '{"fleet.fetch_*": "io", "fleet.*": "cpu"}') == "cpu"


def test_an_amqps_broker_is_verified_against_the_ca_and_its_host_name(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "amqps://fleet:secret@mq.example.internal:5671/fleet")
    monkeypatch.setenv("CELERY_BROKER_SSL_CA_CERTS", "/etc/celery-fleet/broker-ca.pem")
    reloaded = importlib.reload(settings)
    assert reloaded.broker_use_ssl == {
        "ca_certs": "/etc/celery-fleet/broker-ca.pem",
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": None,  # kombu fills in the URL's host, and then checks it
    }


def test_a_plain_broker_url_has_no_tls_options():
    assert settings.broker_tls_options("amqp://fleet:secret@mq:5672/fleet", "/ca.pem") is False
    assert settings.broker_tls_options("redis://fleet:secret@r:6379/0") is False


def test_with_mutual_tls_the_worker_presents_its_certificate():
    options = settings.broker_tls_options("amqps://fleet@mq:5671/fleet", "/ca.pem", None, "/id.crt", "/id.key")
    assert (options["certfile"], options["keyfile"], options["cert_reqs"]) == ("/id.crt", "/id.key", ssl.CERT_REQUIRED)
    assert "certfile" not in settings.broker_tls_options("amqps://fleet:secret@mq:5671/fleet", "/ca.pem")


def test_message_signing_is_off_without_a_key_and_complete_with_one():
    assert settings.message_signing({}, "json") == {}
    with pytest.raises(ValueError, match="CELERY_SECURITY_CERTIFICATE and CELERY_SECURITY_CERT_STORE"):
        settings.message_signing({"CELERY_SECURITY_KEY": "/etc/celery-fleet/identity.key"}, "json")


def test_reliability_defaults(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_HEARTBEAT", raising=False)
    monkeypatch.delenv("CELERY_TASK_DEFAULT_QUEUE_TYPE", raising=False)
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
    assert conf.broker_heartbeat == 10
    assert conf.task_default_delivery_mode == "persistent"
    assert conf.task_default_queue_type == conf.task_create_missing_queue_type == "classic"


def test_heartbeat_and_queue_type_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_HEARTBEAT", "20")
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE_TYPE", "quorum")
    reloaded = importlib.reload(settings)
    assert reloaded.broker_heartbeat == 20
    assert reloaded.task_default_queue_type == reloaded.task_create_missing_queue_type == "quorum"
    monkeypatch.undo()
    importlib.reload(settings)
