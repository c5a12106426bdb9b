"""Celery settings of the fleet's app, read by ``app.config_from_object``.

Everything that differs between deployments comes from the environment: on a worker host, the env file that the
``celery_worker`` role writes (``/etc/celery-fleet/worker.env``); on a client, your shell. Every setting links to
its entry in https://docs.celeryq.dev/en/stable/userguide/configuration.html.
"""

import json
import os
import ssl

from celery.schedules import crontab

DEFAULT_QUEUE = "celery"
SERIALIZERS = ("json", "msgpack", "pickle")


def parse_routes(raw):
    """Turn the ``CELERY_TASK_ROUTES`` JSON object into Celery's ``task_routes``.

    The object maps a task name or glob pattern to a queue name (``{"fleet.fetch_*": "io"}``) or to a full route
    (``{"fleet.fetch_*": {"queue": "io"}}``). Order matters: Celery tries the patterns in the order given.
    """
    if not raw or not raw.strip():
        return {}
    routes = json.loads(raw)
    if not isinstance(routes, dict):
        raise ValueError("CELERY_TASK_ROUTES must be a JSON object mapping task patterns to queues")
    parsed = {}
    for pattern, route in routes.items():
        if isinstance(route, str):
            route = {"queue": route}
        if not isinstance(route, dict) or not route.get("queue"):
            raise ValueError(f"CELERY_TASK_ROUTES: the route for {pattern!r} must name a queue")
        parsed[pattern] = route
    return parsed


def parse_serializer(name, allow_pickle):
    """Check the ``CELERY_SERIALIZER`` choice: json (default) or msgpack; pickle only when explicitly allowed.

    pickle runs code while it decodes: anyone who can publish to a queue could run anything on the workers.
    """
    name = (name or "json").strip().lower()
    if name not in SERIALIZERS:
        raise ValueError(f"CELERY_SERIALIZER must be one of {', '.join(SERIALIZERS)}, not {name!r}")
    if name == "pickle" and (allow_pickle or "").strip().lower() not in ("1", "true", "yes"):
        raise ValueError(
            "CELERY_SERIALIZER=pickle lets anyone who can publish to the broker run code on the workers; "
            "it is refused unless CELERY_ALLOW_PICKLE=true (fleet_allow_pickle) says you accept that"
        )
    return name


def broker_tls_options(url, ca_certs=None, server_hostname=None, certfile=None, keyfile=None):
    """Celery's ``broker_use_ssl`` for an ``amqps://`` broker URL (``False`` for any other).

    The broker's certificate must be signed by ``ca_certs`` (``CELERY_BROKER_SSL_CA_CERTS``; the system's CAs when
    unset) and name the host of the URL (or ``server_hostname``): kombu checks the host name when the option is
    present, and fills in the URL's host when it is ``None``. With mutual TLS, ``certfile`` and ``keyfile``
    (``CELERY_BROKER_SSL_CERTFILE``/``_KEYFILE``) are the certificate this host presents to the broker.
    """
    if not (url or "").startswith("amqps://"):
        return False
    options = {
        "ca_certs": ca_certs or None,
        "cert_reqs": ssl.CERT_REQUIRED,
        "server_hostname": server_hostname or None,
    }
    if certfile:
        options.update(certfile=certfile, keyfile=keyfile or None)
    return options


def message_signing(environ, serializer):
    """The settings that sign every message with this host's key (Celery's ``auth`` serializer), or ``{}``.

    On when ``CELERY_SECURITY_KEY`` is set, with ``CELERY_SECURITY_CERTIFICATE`` (its certificate) and
    ``CELERY_SECURITY_CERT_STORE`` (a directory or glob of the certificates whose signatures are accepted). Tasks,
    results and remote-control messages are then signed, and only signed messages are accepted: an unsigned one, or
    one signed by a key not in the store, is refused and logged. The body inside the signature is ``serializer``.
    Registers the serializer with kombu (a process-wide registry) as Celery's ``setup_security`` would.
    """
    key = environ.get("CELERY_SECURITY_KEY")
    if not key:
        return {}
    cert = environ.get("CELERY_SECURITY_CERTIFICATE")
    store = environ.get("CELERY_SECURITY_CERT_STORE")
    if not (cert and store):
        raise ValueError("CELERY_SECURITY_KEY needs CELERY_SECURITY_CERTIFICATE and CELERY_SECURITY_CERT_STORE")
    from celery.security.serialization import register_auth  # needs cryptography (celery[auth])

    with open(key) as key_file, open(cert) as cert_file:
        register_auth(key_file.read(), None, cert_file.read(), store, "sha256", serializer)
    return {
        "task_serializer": "auth",
        "result_serializer": "auth",
        "accept_content": ["auth"],
        "result_accept_content": ["auth"],
        "security_key": key,
        "security_certificate": cert,
        "security_cert_store": store,
        "security_digest": "sha256",
    }


def parse_beat_schedule(raw):
    """Turn the ``CELERY_BEAT_SCHEDULE`` JSON object into Celery's ``beat_schedule``.

    Each entry maps a name to ``{"task": "fleet.tick", "every": 10}`` (seconds) or ``{"task": ..., "crontab":
    "*/5 * * * *"}`` (minute hour day-of-month month day-of-week), with optional ``args``, ``kwargs`` and ``queue``.
    """
    if not raw or not raw.strip():
        return {}
    entries = json.loads(raw)
    if not isinstance(entries, dict):
        raise ValueError("CELERY_BEAT_SCHEDULE must be a JSON object mapping entry names to schedules")
    schedule = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or not entry.get("task"):
            raise ValueError(f"CELERY_BEAT_SCHEDULE: entry {name!r} must name a task")
        if ("every" in entry) == ("crontab" in entry):
            raise ValueError(f"CELERY_BEAT_SCHEDULE: entry {name!r} needs exactly one of 'every' and 'crontab'")
        if "every" in entry:
            every = float(entry["every"])
            if every <= 0:
                raise ValueError(f"CELERY_BEAT_SCHEDULE: 'every' of entry {name!r} must be positive")
            when = every
        else:
            fields = str(entry["crontab"]).split()
            if len(fields) != 5:
                raise ValueError(f"CELERY_BEAT_SCHEDULE: 'crontab' of entry {name!r} needs 5 fields")
            minute, hour, day_of_month, month_of_year, day_of_week = fields
            when = crontab(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
            )
        schedule[name] = {
            "task": entry["task"],
            "schedule": when,
            "args": tuple(entry.get("args", ())),
            "kwargs": dict(entry.get("kwargs", {})),
            "options": {"queue": entry["queue"]} if entry.get("queue") else {},
        }
    return schedule


# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-url
# Never in code: it carries the broker password. The worker env file and the client's shell provide it.
broker_url = os.environ.get("CELERY_BROKER_URL", "amqp://localhost:5672//")

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-use-ssl
# With an amqps:// URL (the fleet's default), the broker's certificate is verified: signed by the fleet's CA
# (CELERY_BROKER_SSL_CA_CERTS) and issued for the broker's host name.
broker_use_ssl = broker_tls_options(
    broker_url,
    os.environ.get("CELERY_BROKER_SSL_CA_CERTS"),
    os.environ.get("CELERY_BROKER_SSL_SERVER_HOSTNAME"),
    os.environ.get("CELERY_BROKER_SSL_CERTFILE"),
    os.environ.get("CELERY_BROKER_SSL_KEYFILE"),
)

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-login-method
# EXTERNAL with mutual TLS (fleet_tls_client_certs): the certificate above is the identity, no password is sent.
broker_login_method = os.environ.get("CELERY_BROKER_LOGIN_METHOD") or None

# Reliability: no task is lost when a worker process, a worker host or the broker fails. The README's "Reliability"
# section explains each guarantee and its limits; the fault suite (molecule/default/tests/test_faults.py) tests them.

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-retry-on-startup
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-max-retries
# Keep retrying while the broker is still starting (hosts rebooting together) and after it is lost, for as long as
# it takes, instead of exiting: a worker that gave up would need a person to start it again.
broker_connection_retry_on_startup = True
broker_connection_retry = True
broker_connection_max_retries = None

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-channel-error-retry
# A channel error (RabbitMQ closes a channel whose delivery outlived its consumer_timeout) reconnects the worker
# instead of stopping it. The fleet sets consumer_timeout above the longest task time limit, so this is the backstop.
broker_channel_error_retry = True

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-heartbeat
# AMQP heartbeats: a broker that goes silent (a frozen host, a cable pulled, no TCP reset ever arrives) is noticed
# after about two intervals, and the worker reconnects; the broker likewise drops a silent worker and redelivers its
# unacknowledged tasks. CELERY_BROKER_HEARTBEAT comes from fleet_broker_heartbeat (default 10 s).
broker_heartbeat = int(os.environ.get("CELERY_BROKER_HEARTBEAT", "10"))
broker_heartbeat_checkrate = 2

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-consumer
# Celery's consumer, except that the worker's monitoring events are published without waiting for confirms
# (consumer.py says why): with confirms, a frozen broker freezes the worker's event loop in that wait, and the
# heartbeat checks above never get to run.
worker_consumer = "celery_fleet.consumer:Consumer"

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-transport-options
# Publisher confirms: a publish (a task sent from a task, a retry, a result) returns only once the broker has taken
# the message, so a broker that dies mid-publish makes the publish fail and retry rather than vanish.
broker_transport_options = {"confirm_publish": True}

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-publish-retry-policy
# Publishing retries across a broker restart (about 30 s), not Celery's default of under a second.
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 15, "interval_start": 0, "interval_step": 1, "interval_max": 2}

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
task_default_queue_type = os.environ.get("CELERY_TASK_DEFAULT_QUEUE_TYPE") or "classic"
task_create_missing_queue_type = task_default_queue_type

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-backend
# rpc:// sends each result back over AMQP to the client that sent the task; nothing is stored on the broker.
result_backend = os.environ.get("CELERY_RESULT_BACKEND", "rpc://")

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-extended
# Results also carry the task name and the node that ran it (AsyncResult.worker): who did the work is visible.
result_extended = True

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-serializer
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#accept-content
# JSON by default, msgpack on request (fleet_serializer). Workers accept only that and JSON (remote control and
# events speak JSON): a pickle message is refused and logged, since pickle would let anyone who can publish to a
# queue run code on the workers. pickle is possible only with CELERY_ALLOW_PICKLE=true (fleet_allow_pickle).
serializer = parse_serializer(os.environ.get("CELERY_SERIALIZER"), os.environ.get("CELERY_ALLOW_PICKLE"))
task_serializer = serializer
result_serializer = serializer
accept_content = list(dict.fromkeys([serializer, "json"]))
result_accept_content = accept_content

# https://docs.celeryq.dev/en/stable/userguide/security.html#message-signing
# With fleet_message_signing, every task, result and remote-control message is signed (the serializer above inside
# the signature) and only messages signed by the fleet's keys are accepted.
globals().update(message_signing(os.environ, serializer))

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-default-queue
# Celery's own default, spelled out: a bare client (only Celery and the broker URL, no routes) sends here.
task_default_queue = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", DEFAULT_QUEUE)

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-routes
# Routing by task name or glob pattern is configuration, not code: the inventory's fleet_task_routes.
task_routes = parse_routes(os.environ.get("CELERY_TASK_ROUTES", ""))

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#beat-schedule
# Periodic tasks are inventory data (fleet_beat_schedule); exactly one celery beat in the fleet sends them.
beat_schedule = parse_beat_schedule(os.environ.get("CELERY_BEAT_SCHEDULE", ""))

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#timezone
enable_utc = True
timezone = "UTC"

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-send-task-events
# Off: nothing in the fleet consumes events yet, and each event is a broker message.
worker_send_task_events = False
