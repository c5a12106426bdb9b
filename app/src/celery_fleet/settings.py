"""Celery settings of the fleet's app, read by ``app.config_from_object``.

Everything that differs between deployments comes from the environment: on a worker host, the env file that the
``celery_worker`` role writes (``/etc/celery-fleet/worker.env``); on a client, your shell. Every setting links to
its entry in https://docs.celeryq.dev/en/stable/userguide/configuration.html.
"""

import json
import os

DEFAULT_QUEUE = "celery"


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


# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-url
# Never in code: it carries the broker password. The worker env file and the client's shell provide it.
broker_url = os.environ.get("CELERY_BROKER_URL", "amqp://localhost:5672//")

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-retry-on-startup
# Keep retrying while the broker is still starting (hosts rebooting together), instead of exiting.
broker_connection_retry_on_startup = True

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-backend
# rpc:// sends each result back over AMQP to the client that sent the task; nothing is stored on the broker.
result_backend = os.environ.get("CELERY_RESULT_BACKEND", "rpc://")

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-extended
# Results also carry the task name and the node that ran it (AsyncResult.worker): who did the work is visible.
result_extended = True

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-serializer
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#accept-content
# JSON only, in both directions: pickle would let anyone who can publish to a queue run code on the workers.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-default-queue
# Celery's own default, spelled out: a bare client (only Celery and the broker URL, no routes) sends here.
task_default_queue = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", DEFAULT_QUEUE)

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#task-routes
# Routing by task name or glob pattern is configuration, not code: the inventory's fleet_task_routes.
task_routes = parse_routes(os.environ.get("CELERY_TASK_ROUTES", ""))

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#timezone
enable_utc = True
timezone = "UTC"

# https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-send-task-events
# Off: nothing in the fleet consumes events yet, and each event is a broker message.
worker_send_task_events = False
