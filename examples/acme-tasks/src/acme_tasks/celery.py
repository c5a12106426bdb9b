"""The Celery app of acme-tasks (``celery -A acme_tasks.celery:app worker``)."""

import json
import os
import ssl

from celery import Celery

# json (default) or msgpack, as the fleet's env file says (CELERY_SERIALIZER); never pickle.
serializer = os.environ.get("CELERY_SERIALIZER", "json")
if serializer not in ("json", "msgpack"):
    raise ValueError(f"acme-tasks speaks json or msgpack, not {serializer!r}")

# TLS to the broker (amqps://, the fleet's default): verify its certificate against the fleet's CA, which the
# worker env file names, and its host name (kombu fills in the URL's host for server_hostname None).
broker_url = os.environ.get("CELERY_BROKER_URL", "")
broker_use_ssl = (
    {"ca_certs": os.environ.get("CELERY_BROKER_SSL_CA_CERTS"), "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": None}
    if broker_url.startswith("amqps://")
    else False
)

app = Celery("acme_tasks", include=["acme_tasks.billing.invoices", "acme_tasks.reports"])
app.conf.update(
    broker_url=broker_url,
    broker_use_ssl=broker_use_ssl,
    result_backend=os.environ.get("CELERY_RESULT_BACKEND", "rpc://"),
    task_default_queue=os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery"),
    task_routes=json.loads(os.environ.get("CELERY_TASK_ROUTES") or "{}"),
    task_serializer=serializer,
    result_serializer=serializer,
    accept_content=list(dict.fromkeys([serializer, "json"])),
    broker_connection_retry_on_startup=True,
    result_extended=True,
)
