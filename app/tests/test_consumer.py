"""The worker's consumer (celery_fleet.consumer): confirms off on the event connection, and only there."""

from celery import Celery
from celery.worker.consumer import Consumer as CeleryConsumer
from celery_fleet import settings
from celery_fleet.app import app
from celery_fleet.consumer import Consumer


def test_the_app_runs_the_fleet_consumer():
    assert settings.worker_consumer == "celery_fleet.consumer:Consumer"
    assert app.conf.worker_consumer == "celery_fleet.consumer:Consumer"
    assert issubclass(Consumer, CeleryConsumer)


def test_events_are_published_without_confirms_and_everything_else_with(monkeypatch):
    broker = Celery(set_as_current=False)
    broker.conf.update(
        broker_url="amqp://fleet@broker:5672/fleet",
        broker_transport_options={"confirm_publish": True, "max_retries": 3},
    )
    consumer = Consumer.__new__(Consumer)  # no worker: only the method under test, with its app
    consumer.app = broker
    monkeypatch.setattr(Consumer, "ensure_connected", lambda self, conn: conn)  # no broker to connect to
    events = consumer.connection_for_write(heartbeat=10)
    assert events.transport_options == {"confirm_publish": False, "max_retries": 3}
    assert events.heartbeat == 10
    assert (events.hostname, events.virtual_host) == ("broker", "fleet")
    # Tasks sent from tasks, retries and results go through the app's connections: confirmed.
    assert broker.connection_for_write().transport_options["confirm_publish"] is True


def test_the_app_consumer_sets_up_delayed_delivery_on_its_own_connection():
    steps = Consumer.Blueprint.default_steps
    assert "celery_fleet_client.delayed_delivery:DelayedDelivery" in steps
    assert "celery.worker.consumer.delayed_delivery:DelayedDelivery" not in steps
