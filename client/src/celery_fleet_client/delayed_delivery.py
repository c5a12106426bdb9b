"""Native delayed delivery set up on the worker's own connection: failover between a cluster's nodes without a stall.

With quorum queues, Celery (5.5 to 5.7) holds countdown and ETA tasks in RabbitMQ (``celery_delayed_*`` queues and
exchanges) instead of in the worker, and its ``DelayedDelivery`` consumer bootstep declares them whenever the
consumer starts, which is also after every reconnection. It treats each URL of a failover ``broker_url`` as a broker
of its own: it opens a new connection to every one of them in turn and retries each that does not answer. On a
cluster, whose URL lists every node, a worker that has just failed over from a dead node therefore blocks its
consumer on that dead node again, for about 47 s, long enough for the broker to drop the new connection for missed
heartbeats: the worker falls into a loop and stops consuming (docs/cluster.md shows the measurement).

The nodes of a cluster share their exchanges, queues and bindings, so the setup is needed once, on any member: this
bootstep makes it on the consumer's own connection, the one that has just connected to a reachable node (after
failover, if any), over one channel of its own, and never dials another URL. When it fails (the node goes away during
the setup), it says so and lets the consumer carry on; the next reconnection sets it up again.

``Consumer`` is Celery's consumer with this bootstep in place of Celery's own: a tasks package selects it with
``worker_consumer = "celery_fleet_client.delayed_delivery:Consumer"`` (or derives its own consumer from it).
"""

import contextlib
import logging
from typing import ClassVar

from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.consumer.delayed_delivery import DelayedDelivery as CeleryDelayedDelivery
from kombu.transport.native_delayed_delivery import declare_native_delayed_delivery_exchanges_and_queues

logger = logging.getLogger(__name__)

CELERY_STEP = "celery.worker.consumer.delayed_delivery:DelayedDelivery"
STEP = f"{__name__}:DelayedDelivery"


class _OneChannel:
    """What kombu's delayed-delivery helpers need of a connection: a channel, here always the same one (they open
    one per call and never close it)."""

    def __init__(self, channel):
        self._channel = channel

    def channel(self):
        return self._channel


class DelayedDelivery(CeleryDelayedDelivery):
    """Celery's bootstep (included with quorum queues, as Celery decides), set up once per consumer start on the
    consumer's own connection."""

    def start(self, c):
        app = c.app
        self._validate_configuration(app)  # a ValueError stops the worker, as Celery's step does
        connection = c.connection
        try:
            channel = connection.channel()
        except Exception as exc:  # the connection has gone: the consumer reconnects and starts this step again
            logger.warning("Native delayed delivery not set up, the connection went away: %s", exc)
            return
        try:
            helper = _OneChannel(channel)
            declare_native_delayed_delivery_exchanges_and_queues(
                helper, app.conf.broker_native_delayed_delivery_queue_type
            )
            self._bind_queues(app, helper)
        except Exception as exc:
            logger.warning(
                "Native delayed delivery not set up on %s: %s (set up again at the next reconnection)",
                connection.as_uri(),
                exc,
            )
        else:
            logger.info("Native delayed delivery set up on %s", connection.as_uri())
        finally:
            # A channel of a connection that has gone needs no closing.
            with contextlib.suppress(Exception):
                channel.close()


class Consumer(CeleryConsumer):
    """Celery's consumer, with the DelayedDelivery bootstep above in place of Celery's."""

    class Blueprint(CeleryConsumer.Blueprint):
        default_steps: ClassVar[list] = [
            STEP if step == CELERY_STEP else step for step in CeleryConsumer.Blueprint.default_steps
        ]
