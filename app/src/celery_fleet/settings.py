"""Celery settings of the fleet's app, read by ``app.config_from_object``.

Everything that differs between deployments comes from the environment: on a worker host, the env file that the
``celery_worker`` role writes (``/etc/celery-fleet/worker.env``); on a client, your shell. Every setting links to
its entry in https://docs.celeryq.dev/en/stable/userguide/configuration.html.
"""

import os

from celery.app.defaults import DEFAULTS as CELERY_DEFAULTS
from celery_fleet_client import env as contract

# The fleet's env contract (client/src/celery_fleet_client/env.py): the CELERY_* variables, their defaults and
# checks, shared with the client library and the tests. Bad values stop the worker with a message naming the variable.
_env = contract.read(os.environ)

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-url
# Never in code: it carries the broker password. The worker env file and the client's shell provide it.
broker_url = _env.broker_url

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-use-ssl
# With an amqps:// URL (the fleet's default), the broker's certificate is verified: signed by the fleet's CA
# (CELERY_BROKER_SSL_CA_CERTS) and issued for the broker's host name.
broker_use_ssl = contract.broker_use_ssl(_env)

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-login-method
# EXTERNAL with mutual TLS (fleet_tls_client_certs): the certificate above is the identity, no password is sent.
broker_login_method = _env.login_method

# Reliability: no task is lost when a worker process, a worker host or the broker fails. docs/reliability.md
# explains each guarantee and its limits; the fault suite (molecule/default/tests/test_faults.py) tests them.

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-retry-on-startup
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-max-retries
# Keep retrying while the broker is still starting (hosts rebooting together) and after it is lost, for as long as
# it takes, instead of exiting: a worker that gave up would need a person to start it again.
broker_connection_retry_on_startup = True
broker_connection_retry = True
broker_connection_max_retries = None

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-failover-strategy
# A cluster's broker URL lists every node: a worker that loses its node connects to the next (docs/cluster.md).
broker_failover_strategy = contract.FAILOVER_STRATEGY

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-channel-error-retry
# A channel error (RabbitMQ closes a channel whose delivery outlived its consumer_timeout) reconnects the worker
# instead of stopping it. The fleet sets consumer_timeout above the longest task time limit, so this is the backstop.
broker_channel_error_retry = True

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-heartbeat
# AMQP heartbeats: a broker that goes silent (a frozen host, a cable pulled, no TCP reset ever arrives) is noticed
# after about two intervals, and the worker reconnects; the broker likewise drops a silent worker and redelivers its
# unacknowledged tasks. CELERY_BROKER_HEARTBEAT comes from fleet_broker_heartbeat (contract.DEFAULT_HEARTBEAT).
broker_heartbeat = _env.heartbeat
broker_heartbeat_checkrate = 2

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-pool-limit
# Publishing connections each worker process keeps (results, retries, subtasks): CELERY_BROKER_POOL_LIMIT, from
# fleet_worker_broker_pool_limit; unset keeps Celery's own default (docs/production.md, "Sizing").
broker_pool_limit = _env.pool_limit if _env.pool_limit is not None else CELERY_DEFAULTS["broker_pool_limit"]

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-consumer
# Celery's consumer, except that the worker's monitoring events are published without waiting for confirms
# (consumer.py says why): with confirms, a frozen broker freezes the worker's event loop in that wait, and the
# heartbeat checks above never get to run.
worker_consumer = "celery_fleet.consumer:Consumer"

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-transport-options
# Publisher confirms: a publish (a task sent from a task, a retry, a result) returns only once the broker has taken
# the message, so a broker that dies mid-publish makes the publish fail and retry rather than vanish.
broker_transport_options = dict(contract.TRANSPORT_OPTIONS)

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-publish-retry-policy
# Publishing retries across a broker restart (about 30 s), not Celery's default of under a second.
task_publish_retry = True
task_publish_retry_policy = dict(contract.PUBLISH_RETRY_POLICY)

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-acks-late
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-reject-on-worker-lost
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-retry-on-worker-lost
# A task's message is acknowledged when the task has finished, not when it starts: a worker killed mid-task (OOM,
# kill -9, a host that dies) leaves the message unacknowledged and the broker gives it to a worker again. When only
# a pool process dies, the task is retried like Task.retry() (after its default_retry_delay, counted against its
# max_retries) and fails with WorkerLostError once they run out: a task that crashes its process is not retried
# forever. The price: a task can run more than once (at-least-once), so tasks must be idempotent; a task that must
# not run twice opts out with @app.task(acks_late=False) and may then be lost instead.
task_acks_late = True
task_reject_on_worker_lost = True
task_retry_on_worker_lost = True
# A task that fails or hits its time limit is acknowledged (and reported as failed), not redelivered.
task_acks_on_failure = True
task_acks_on_timeout = True

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-prefetch-multiplier
# Each pool slot reserves one message at a time: a dying worker strands no queue of prefetched tasks, and a long
# task does not hold short ones hostage behind it.
worker_prefetch_multiplier = 1

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-cancel-long-running-tasks-on-connection-loss
# When the broker connection is lost, running late-ack tasks are cancelled: the broker redelivers them anyway (their
# acknowledgement cannot reach it), and letting them finish as well would run each one twice to completion.
worker_cancel_long_running_tasks_on_connection_loss = True

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-default-delivery-mode
# Celery's defaults, spelled out: task messages are persistent and their queues durable, so a broker restart keeps
# every queued task.
task_default_delivery_mode = "persistent"

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-default-queue-type
# classic (default) or quorum (fleet_queue_type): RabbitMQ's replicated queue type, with a delivery limit that
# dead-letters a message redelivered too often. Missing queues (a new route) are created with the same type.
task_default_queue_type = _env.queue_type
task_create_missing_queue_type = task_default_queue_type

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-default-exchange-type
# direct (Celery's default) or topic (fleet_task_exchange_type; the default on a cluster): each task queue's exchange.
# On quorum queues Celery holds countdown and ETA tasks in RabbitMQ's delayed-delivery queues only for topic
# exchanges; with direct ones a worker holds them until due, in one of its prefetch slots.
task_default_exchange_type = _env.exchange_type
# The default applies to the default queue only: a queue created from -Q or a route gets an exchange of this type.
task_create_missing_queue_exchange_type = task_default_exchange_type

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-backend
# rpc:// sends each result back over AMQP to the client that sent the task; nothing is stored on the broker.
result_backend = _env.result_backend

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-extended
# Results also carry the task name and the node that ran it (AsyncResult.worker): who did the work is visible.
result_extended = True

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-serializer
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#accept-content
# JSON by default, msgpack on request (fleet_serializer). Workers accept only that and JSON (remote control and
# events speak JSON): a pickle message is refused and logged, since pickle would let anyone who can publish to a
# queue run code on the workers. pickle is possible only with CELERY_ALLOW_PICKLE=true (fleet_allow_pickle).
task_serializer = _env.serializer
result_serializer = _env.serializer
accept_content = contract.accept_content(_env)
result_accept_content = accept_content

# https://docs.celeryq.dev/en/stable/userguide/security.html#message-signing
# With fleet_message_signing, every task, result and remote-control message is signed (the serializer above inside
# the signature) and only messages signed by the fleet's keys are accepted.
globals().update(contract.message_signing(_env))

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-default-queue
# Celery's own default, spelled out: a bare client (only Celery and the broker URL, no routes) sends here.
task_default_queue = _env.default_queue

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-routes
# Routing by task name or glob pattern is configuration, not code: the inventory's fleet_task_routes.
task_routes = _env.routes

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#beat-schedule
# Periodic tasks are inventory data (fleet_beat_schedule); exactly one celery beat in the fleet sends them.
beat_schedule = _env.beat_schedule

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#timezone
enable_utc = True
timezone = "UTC"

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-send-task-events
# Off here, since each event is a broker message; a monitored fleet's workers run with --task-events (the
# celery_worker role's celery_worker_task_events), which Flower on the monitor host reads.
worker_send_task_events = False
