"""The Celery app of acme-tasks (``celery -A acme_tasks.celery:app worker``).

Its settings come from the fleet's env contract: the CELERY_* variables of the worker env file, read and checked by
celery_fleet_client.env (the client library, which the fleet installs beside the tasks package). Broker and TLS
(mutual TLS too), results, the default queue and routes, the message format and message signing all follow the
inventory without code here.
"""

import os

from celery import Celery
from celery_fleet_client import env as contract

fleet = contract.read(os.environ)
accept = contract.accept_content(fleet)

app = Celery("acme_tasks", include=["acme_tasks.billing.invoices", "acme_tasks.reports"])
settings = dict(
    broker_url=fleet.broker_url,
    broker_use_ssl=contract.broker_use_ssl(fleet),
    broker_login_method=fleet.login_method,
    broker_heartbeat=fleet.heartbeat,
    broker_connection_retry_on_startup=True,
    # A cluster's broker URL lists every node: carry on with the next one when a node goes away.
    broker_failover_strategy=contract.FAILOVER_STRATEGY,
    # With quorum queues, Celery's own delayed-delivery setup stalls a worker that fails over (the client library's
    # consumer sets it up on the connection the worker already has: celery_fleet_client/delayed_delivery.py).
    worker_consumer="celery_fleet_client.delayed_delivery:Consumer",
    result_backend=fleet.result_backend,
    result_extended=True,
    task_default_queue=fleet.default_queue,
    # The queues' type must match what the broker holds (quorum by default on a cluster): RabbitMQ refuses to
    # declare an existing quorum queue as classic (PRECONDITION_FAILED ... x-queue-type).
    task_default_queue_type=fleet.queue_type,
    task_create_missing_queue_type=fleet.queue_type,
    # And their exchanges' type (topic on a cluster: countdown tasks then wait in RabbitMQ, not in a worker).
    task_default_exchange_type=fleet.exchange_type,
    task_create_missing_queue_exchange_type=fleet.exchange_type,
    task_routes=fleet.routes,
    task_serializer=fleet.serializer,
    result_serializer=fleet.serializer,
    accept_content=accept,
    result_accept_content=accept,
)
# Signed messages (fleet_message_signing): sign with the host's key, accept only trusted signers' messages. These
# replace the serializers and accepted content above.
settings.update(contract.message_signing(fleet))
app.conf.update(settings)
