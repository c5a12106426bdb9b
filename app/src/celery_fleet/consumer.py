"""The worker's consumer: the client library's (Celery's own, with native delayed delivery set up on the consumer's
own connection, so that failing over between a cluster's nodes does not stall: celery_fleet_client.delayed_delivery),
with publisher confirms off on its event connection only.

Why: a worker sends a ``worker-heartbeat`` event every 2 s from its main event loop (Celery's ``Heart``). With
publisher confirms on (``broker_transport_options["confirm_publish"]``, the fleet's default), each such publish waits
for the broker's confirm, and it waits with no time limit. A broker that goes silent without closing the connection
(a frozen host, a pulled cable: no TCP reset arrives) then stops the whole event loop inside that wait, so the AMQP
heartbeat checks that would notice the silence never run: the worker hangs until the broker comes back, however long
that is. Events are monitoring data that may be lost; tasks sent from tasks, retries and results keep their confirms.

Celery's ``Events`` bootstep is the only caller of ``Consumer.connection_for_write``, so this touches nothing else.
Selected with the ``worker_consumer`` setting (settings.py); the fault suite's silent-broker case proves it.
"""

from celery_fleet_client.delayed_delivery import Consumer as FleetConsumer


class Consumer(FleetConsumer):
    """The fleet's consumer, whose event dispatcher publishes without waiting for the broker's confirms."""

    def connection_for_write(self, url=None, heartbeat=None):
        """The event dispatcher's connection: the broker settings as they are, confirms off."""
        return self.ensure_connected(
            self.app.connection_for_write(url=url, heartbeat=heartbeat, transport_options={"confirm_publish": False})
        )
