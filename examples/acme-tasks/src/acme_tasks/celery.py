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
# Mutual TLS (fleet_tls_client_certs): the host's certificate is its broker identity (EXTERNAL login, no password).
if broker_use_ssl and os.environ.get("CELERY_BROKER_SSL_CERTFILE"):
    broker_use_ssl.update(
        certfile=os.environ["CELERY_BROKER_SSL_CERTFILE"], keyfile=os.environ.get("CELERY_BROKER_SSL_KEYFILE")
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
    broker_login_method=os.environ.get("CELERY_BROKER_LOGIN_METHOD") or None,
    broker_connection_retry_on_startup=True,
    result_extended=True,
)

# Signed messages (fleet_message_signing; needs celery[auth], which the fleet installs): sign with the host's key,
# accept only messages signed by the certificates in the store.
if os.environ.get("CELERY_SECURITY_KEY"):
    app.conf.update(
        security_key=os.environ["CELERY_SECURITY_KEY"],
        security_certificate=os.environ["CELERY_SECURITY_CERTIFICATE"],
        security_cert_store=os.environ["CELERY_SECURITY_CERT_STORE"],
        task_serializer="auth",
        result_serializer="auth",
        accept_content=["auth"],
        result_accept_content=["auth"],
    )
    app.setup_security(allowed_serializers=[serializer, "json"], serializer=serializer)
