"""The Celery app of acme-tasks (``celery -A acme_tasks.celery:app worker``)."""

import json
import os

from celery import Celery

# json (default) or msgpack, as the fleet's env file says (CELERY_SERIALIZER); never pickle.
serializer = os.environ.get("CELERY_SERIALIZER", "json")
if serializer not in ("json", "msgpack"):
    raise ValueError(f"acme-tasks speaks json or msgpack, not {serializer!r}")

app = Celery("acme_tasks", include=["acme_tasks.billing.invoices", "acme_tasks.reports"])
app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL"),
    result_backend=os.environ.get("CELERY_RESULT_BACKEND", "rpc://"),
    task_default_queue=os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery"),
    task_routes=json.loads(os.environ.get("CELERY_TASK_ROUTES") or "{}"),
    task_serializer=serializer,
    result_serializer=serializer,
    accept_content=list(dict.fromkeys([serializer, "json"])),
    broker_connection_retry_on_startup=True,
    result_extended=True,
)
