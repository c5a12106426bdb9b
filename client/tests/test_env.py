"""The fleet's env contract (celery_fleet_client.env): the CELERY_* variables, their defaults, parsing and checks."""

import ssl

import pytest
from celery import Celery
from celery_fleet_client import env


def test_pickle_is_refused_unless_explicitly_allowed():
    with pytest.raises(ValueError, match="CELERY_ALLOW_PICKLE=true"):
        env.parse_serializer("pickle", None)
    with pytest.raises(ValueError, match="CELERY_ALLOW_PICKLE=true"):
        env.parse_serializer("pickle", "no")
    assert env.parse_serializer("pickle", "true") == "pickle"
    with pytest.raises(ValueError, match="must be one of"):
        env.parse_serializer("yaml", None)


def test_beat_schedule_from_json():
    schedule = env.parse_beat_schedule(
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
    assert env.parse_beat_schedule("") == {}


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
        env.parse_beat_schedule(raw)


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
    assert env.parse_routes(raw) == expected


@pytest.mark.parametrize("raw", ['["web.*"]', '{"web.*": ""}', '{"web.*": {"exchange": "x"}}'])
def test_parse_routes_rejects_routes_without_a_queue(raw):
    with pytest.raises(ValueError, match="CELERY_TASK_ROUTES"):
        env.parse_routes(raw)


def route_of(task_name, routes):
    """Where a client configured with ``routes`` sends ``task_name`` (Celery's own router decides)."""
    client = Celery(set_as_current=False)
    client.conf.task_default_queue = env.DEFAULT_QUEUE
    client.conf.task_routes = env.parse_routes(routes)
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


def test_a_plain_broker_url_has_no_tls_options():
    assert env.broker_use_ssl(env.read({"CELERY_BROKER_URL": "amqp://fleet:secret@mq:5672/fleet"})) is False
    assert env.broker_use_ssl(env.read({"CELERY_BROKER_URL": "redis://fleet:secret@r:6379/0"})) is False


def test_with_mutual_tls_the_host_presents_its_certificate():
    tls = {"CELERY_BROKER_URL": "amqps://fleet@mq:5671/fleet", "CELERY_BROKER_SSL_CA_CERTS": "/ca.pem"}
    options = env.broker_use_ssl(
        env.read(dict(tls, CELERY_BROKER_SSL_CERTFILE="/id.crt", CELERY_BROKER_SSL_KEYFILE="/id.key"))
    )
    assert (options["certfile"], options["keyfile"], options["cert_reqs"]) == ("/id.crt", "/id.key", ssl.CERT_REQUIRED)
    assert "certfile" not in env.broker_use_ssl(env.read(tls))


def test_message_signing_is_off_without_a_key_and_needs_the_whole_identity():
    assert env.message_signing(env.read({})) == {}
    with pytest.raises(ValueError, match="CELERY_SECURITY_CERTIFICATE and CELERY_SECURITY_CERT_STORE"):
        env.read({"CELERY_SECURITY_KEY": "/etc/celery-fleet/identity.key"})


def test_unset_and_empty_variables_mean_the_defaults():
    for environ in ({}, {name: "" for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_SERIALIZER")}):
        fleet = env.read(environ)
        assert (fleet.broker_url, fleet.result_backend, fleet.serializer) == (
            env.DEFAULT_BROKER_URL,
            env.DEFAULT_RESULT_BACKEND,
            env.DEFAULT_SERIALIZER,
        )
        assert (fleet.heartbeat, fleet.default_queue, fleet.queue_type) == (
            env.DEFAULT_HEARTBEAT,
            env.DEFAULT_QUEUE,
            env.DEFAULT_QUEUE_TYPE,
        )
        assert fleet.pool_limit is None  # Celery's own default


def test_the_publishing_pool_limit_is_a_whole_number():
    assert env.read({"CELERY_BROKER_POOL_LIMIT": "2"}).pool_limit == 2
    assert env.read({"CELERY_BROKER_POOL_LIMIT": "0"}).pool_limit == 0
    with pytest.raises(ValueError, match="CELERY_BROKER_POOL_LIMIT must be a whole number of connections"):
        env.read({"CELERY_BROKER_POOL_LIMIT": "-1"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CELERY_BROKER_HEARTBEAT", "ten"),
        ("CELERY_TASK_DEFAULT_QUEUE_TYPE", "stream"),
        ("CELERY_TASK_DEFAULT_EXCHANGE_TYPE", "fanout"),
        ("CELERY_SERIALIZER", "yaml"),
    ],
)
def test_a_bad_value_is_refused_with_its_variables_name(name, value):
    with pytest.raises(ValueError, match=name):
        env.read({name: value})


def test_task_queues_are_the_default_queue_then_each_routes_once():
    fleet = env.read(
        {"CELERY_TASK_DEFAULT_QUEUE": "celery", "CELERY_TASK_ROUTES": '{"a.*": "io", "b.*": "io", "c": "cpu"}'}
    )
    assert fleet.task_queues == ["celery", "io", "cpu"]


@pytest.mark.parametrize(
    ("queue_type", "exchange_type", "native"),
    [("quorum", "topic", True), ("quorum", "direct", False), ("classic", "topic", False), ("", "", False)],
)
def test_native_delayed_delivery_needs_quorum_queues_on_topic_exchanges(queue_type, exchange_type, native):
    fleet = env.read({"CELERY_TASK_DEFAULT_QUEUE_TYPE": queue_type, "CELERY_TASK_DEFAULT_EXCHANGE_TYPE": exchange_type})
    assert fleet.native_delayed_delivery is native
    assert fleet.exchange_type == (exchange_type or "direct")
