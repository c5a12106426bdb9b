"""The baselines' worker side, copied into each worker container by bench/run.py and run with the fleet's venv.

    tutorial  Celery's "First steps" setup: ``celery worker`` with default settings and the rpc result backend, the
              same two task names and bodies as the fleet (fleet.add, fleet.sleep), on its own vhost.
    hardened  Celery set up by hand with the fleet's guarantees and nothing else of the fleet: late acknowledgement,
              prefetch 1, publisher confirms, persistent messages on durable queues, TLS, the rpc backend; one
              ``celery worker`` per worker group of the lab (same pool and concurrency), each on its own queue.
    echo      the ceiling: raw AMQP with kombu, no Celery. Consumes the request queue without acknowledgements and
              publishes each body back to the request's reply_to queue, transient, without confirms.

Both connect to the broker the fleet's workers use, over the same TLS listener (BENCH_CA_CERTS: the CA file named in
the worker's env file), as the bench user (BENCH_BROKER_URL).
"""

import os
import ssl
import sys
import time

from celery import Celery
from kombu import Connection, Consumer, Producer, Queue

BROKER_URL = os.environ.get("BENCH_BROKER_URL", "amqp://localhost//")
TLS = (
    {"ca_certs": os.environ.get("BENCH_CA_CERTS") or None, "cert_reqs": ssl.CERT_REQUIRED}
    if BROKER_URL.startswith("amqps://")
    else False
)
ECHO_QUEUE = "bench.echo"

# Nothing but the broker, the rpc backend and TLS: the tutorial's defaults otherwise (prefork pool with one process
# per CPU, prefetch multiplier 4, early acknowledgement, no publisher confirms, pickle-free JSON).
app = Celery("tutorial", broker=BROKER_URL, backend="rpc://")
app.conf.broker_use_ssl = TLS
app.conf.task_default_queue = "bench.tutorial"

# The same guarantees as the fleet (app/src/celery_fleet/settings.py), written the way a careful engineer would by
# hand: what the fleet's ratio to this costs is the fleet's own wiring (its consumer, routing, signing off, events).
HARDENED_QUEUE_PREFIX = "bench.hardened."
hardened = Celery("hardened", broker=BROKER_URL, backend="rpc://")
hardened.conf.update(
    broker_use_ssl=TLS,
    broker_transport_options={"confirm_publish": True},
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_delivery_mode="persistent",
    task_default_queue=HARDENED_QUEUE_PREFIX + "celery",
)


def add(x, y):
    return x + y


def sleep(seconds, tag=None):
    time.sleep(seconds)
    return {"tag": tag}


for _app in (app, hardened):
    _app.task(name="fleet.add")(add)
    _app.task(name="fleet.sleep")(sleep)


def echo():
    """Serve the echo queue until stopped."""
    with Connection(BROKER_URL, ssl=TLS, heartbeat=0) as connection:
        channel = connection.channel()
        producer = Producer(channel)
        queue = Queue(ECHO_QUEUE, durable=False, auto_delete=False)
        pending = []  # replies are published between reads: publishing from the callback would recurse into it

        def received(body, message):
            properties = message.properties
            pending.append((body, properties["reply_to"], properties.get("correlation_id")))

        with Consumer(channel, queues=[queue], callbacks=[received], no_ack=True):
            while True:
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:  # idle: the socket's read timed out, nothing was lost
                    continue
                while pending:
                    body, reply_to, correlation_id = pending.pop(0)
                    producer.publish(
                        body,
                        routing_key=reply_to,
                        correlation_id=correlation_id,
                        serializer="json",
                        delivery_mode=1,
                        retry=False,
                    )


if __name__ == "__main__":
    if sys.argv[1:] == ["echo"]:
        echo()
    else:
        sys.exit("usage: remote.py echo   (the tutorial worker: celery --app remote:app worker)")
