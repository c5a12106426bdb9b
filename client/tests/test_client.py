"""celery_fleet_client's calls for each way an app configures Celery: env file, plain app, Django settings."""

import celery_fleet_client as fleet
import pytest
from celery import Celery
from kombu import Queue

ENV = {
    "CELERY_BROKER_URL": "amqps://fleet-client:s3cr%24t@mq.example.internal:5671/fleet",
    "CELERY_BROKER_SSL_CA_CERTS": "/home/me/fleet/broker-ca.pem",
    "CELERY_TASK_DEFAULT_QUEUE": "celery",
    "CELERY_TASK_ROUTES": '{"fleet.fetch_*": "io"}',
}


def app():
    return Celery("an-existing-app", set_as_current=False)


def test_read_env_file_reads_what_sh_would_export(tmp_path):
    path = tmp_path / "client.env"
    path.write_text(
        "# Ansible managed\n"
        'CELERY_BROKER_URL="amqps://fleet-client:a\\$b\\"c\\\\d@mq:5671/fleet"\n'
        'CELERY_TASK_ROUTES=\'{"fleet.*": "io"}\'\n'
        "CELERY_BROKER_LOGIN_METHOD=EXTERNAL\n"
        'PYTHONPATH="/home/me/fleet"${PYTHONPATH:+:$PYTHONPATH}\n'
        "\n"
    )
    assert fleet.read_env_file(path) == {
        "CELERY_BROKER_URL": 'amqps://fleet-client:a$b"c\\d@mq:5671/fleet',
        "CELERY_TASK_ROUTES": '{"fleet.*": "io"}',
        "CELERY_BROKER_LOGIN_METHOD": "EXTERNAL",
    }


def test_read_env_file_refuses_an_unterminated_quote(tmp_path):
    path = tmp_path / "client.env"
    path.write_text('CELERY_BROKER_URL="amqps://x\n')
    with pytest.raises(fleet.FleetClientError, match="unterminated"):
        fleet.read_env_file(path)


def test_configure_gives_a_plain_app_the_fleets_settings():
    configured = fleet.configure(app(), ENV)
    assert configured.conf.broker_url == ENV["CELERY_BROKER_URL"]
    assert configured.conf.broker_use_ssl["ca_certs"] == "/home/me/fleet/broker-ca.pem"
    assert [queue.name for queue in configured.conf.task_queues] == ["celery", "io"]
    assert all(queue.no_declare and queue.exchange.no_declare for queue in configured.conf.task_queues)
    assert configured.amqp.router.route({}, "fleet.fetch_url")["queue"].name == "io"
    assert configured.conf.broker_pool_limit == 10  # Celery's own: the env file does not set one
    assert fleet.settings({**ENV, "CELERY_BROKER_POOL_LIMIT": "3"})["broker_pool_limit"] == 3


def test_django_settings_are_the_same_settings_in_the_celery_namespace():
    django = fleet.django_settings(ENV)
    assert django["CELERY_BROKER_URL"] == ENV["CELERY_BROKER_URL"]
    assert set(django) == {f"CELERY_{name.upper()}" for name in fleet.settings(ENV)}
    # What app.config_from_object("django.conf:settings", namespace="CELERY") makes of them.
    namespaced = app()
    namespaced.config_from_object(type("DjangoSettings", (), django), namespace="CELERY")
    assert namespaced.conf.task_default_queue == "celery"
    assert [queue.name for queue in namespaced.conf.task_queues] == ["celery", "io"]
    fleet.check(namespaced.conf)


def test_check_says_what_to_set_when_celery_would_declare_a_queue():
    bare = app()
    bare.conf.update(broker_url=ENV["CELERY_BROKER_URL"])
    with pytest.raises(fleet.FleetClientError, match=r"task_queues is not set.*celery_fleet_client\.task_queue"):
        fleet.check(bare.conf)
    with pytest.raises(fleet.FleetClientError, match=r"\['celery'\] would be declared"):
        fleet.check({"task_queues": [Queue("celery")], "task_default_queue": "celery"})
    with pytest.raises(fleet.FleetClientError, match=r"task_default_queue 'default' is not in task_queues"):
        fleet.check({"task_queues": [fleet.task_queue("celery")], "task_default_queue": "default"})


def test_configure_refuses_a_pickle_client_unless_the_env_allows_it():
    with pytest.raises(ValueError, match="CELERY_ALLOW_PICKLE=true"):
        fleet.configure(app(), dict(ENV, CELERY_SERIALIZER="pickle"))
    assert fleet.settings(dict(ENV, CELERY_SERIALIZER="pickle", CELERY_ALLOW_PICKLE="true"))["task_serializer"] == (
        "pickle"
    )


def test_on_quorum_queues_with_topic_exchanges_the_queues_say_quorum_so_countdowns_wait_in_rabbitmq():
    """Celery sends a countdown task through RabbitMQ's delayed-delivery exchanges when a task queue says it is a
    quorum queue and its exchange is not direct; the client never declares either (no_declare)."""
    native = fleet.configure(
        app(),
        dict(ENV, CELERY_TASK_DEFAULT_QUEUE_TYPE="quorum", CELERY_TASK_DEFAULT_EXCHANGE_TYPE="topic"),
    )
    queues = native.conf.task_queues
    assert {queue.name: queue.queue_arguments for queue in queues} == {
        "celery": {"x-queue-type": "quorum"},
        "io": {"x-queue-type": "quorum"},
    }
    assert all(queue.no_declare and queue.exchange.no_declare and queue.exchange.type == "topic" for queue in queues)
    # Quorum queues on direct exchanges (a single broker's quorum fleet): no native path, countdowns go to the queue.
    direct = fleet.configure(app(), dict(ENV, CELERY_TASK_DEFAULT_QUEUE_TYPE="quorum"))
    assert all(queue.queue_arguments is None for queue in direct.conf.task_queues)
