"""The worker's delayed-delivery bootstep (celery_fleet_client.delayed_delivery): set up once, on the consumer's own
connection, never on the other URLs of a failover broker URL.

Against kombu's in-memory transport (a real kombu connection and channel, no broker); the failover itself, against a
RabbitMQ cluster, is proved by the molecule cluster suite (molecule/tests/2_faults/test_cluster_faults.py).
"""

import socket
import time
from types import SimpleNamespace

import pytest
from celery import Celery
from celery.worker.consumer import Consumer as CeleryConsumer
from celery_fleet_client.delayed_delivery import CELERY_STEP, STEP, Consumer, DelayedDelivery
from kombu import Queue


def test_the_consumer_runs_this_step_where_celery_runs_its_own():
    celery_steps = CeleryConsumer.Blueprint.default_steps
    assert Consumer.Blueprint.default_steps == [STEP if step == CELERY_STEP else step for step in celery_steps]
    assert CELERY_STEP in celery_steps


@pytest.fixture()
def dead_address():
    """A loopback port nobody listens on, and a listener that counts whoever dials it anyway."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    yield listener
    listener.close()


def test_the_setup_uses_the_consumers_connection_and_dials_no_other_url(dead_address, caplog):
    port = dead_address.getsockname()[1]
    app = Celery(set_as_current=False)
    app.conf.update(
        # The first node of the URL is one the consumer has failed over from; Celery's step would dial it first.
        broker_url=f"amqp://127.0.0.1:{port}//;memory://",
        task_queues=[Queue("celery", routing_key="celery"), Queue("io", routing_key="io")],
        task_default_queue_type="quorum",
        broker_native_delayed_delivery_queue_type="quorum",
    )
    connection = app.connection_for_write(url="memory://localhost//")
    connection.connect()
    consumer = SimpleNamespace(app=app, connection=connection)
    step = DelayedDelivery(consumer)

    started = time.monotonic()
    step.start(consumer)
    assert time.monotonic() - started < 5

    with pytest.raises(TimeoutError):
        dead_address.accept()  # nobody dialled the other URL
    # The delay levels were declared through the consumer's connection. The in-memory transport has no
    # exchange-to-exchange bindings, so the setup stopped there: reported, and the consumer carries on.
    exchanges = connection.default_channel.state.exchanges
    assert {f"celery_delayed_{level}" for level in range(28)} <= set(exchanges)
    assert "Native delayed delivery not set up on memory://" in caplog.text
    assert "exchange_bind" in caplog.text
    connection.release()
