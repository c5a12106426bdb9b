import importlib

import pytest
from celery import Celery
from celery_fleet import settings


def test_serializers_are_json_only():
    assert settings.task_serializer == "json"
    assert settings.result_serializer == "json"
    assert settings.accept_content == ["json"]
    assert settings.result_accept_content == ["json"]


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
