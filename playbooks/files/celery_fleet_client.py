"""Celery settings of a client of the fleet, read from the client env file's CELERY_* variables.

site.yml writes this module next to the client env file; the env file names it (``CELERY_CONFIG_MODULE``) and puts
its directory on ``PYTHONPATH``, so that the stock ``celery`` CLI and ``Celery()`` in your own code pick it up:

    set -a && . ./client.env && set +a
    celery call fleet.add --args '[2, 3]'

A client needs Celery only, not the tasks code: the broker, TLS, result backend, message format, default queue and
routes come from the environment.
"""

import json
import os
import ssl

from kombu import Exchange, Queue


def task_queue(name):
    """A task queue as a client sees it: the exchange of the same name that the workers declared, never declared here.

    The client's broker identity may publish to the task exchanges only: it cannot declare, bind, read or delete a
    queue, nor write to the default exchange (which would reach any queue by name, the workers' remote-control
    mailboxes included). Celery publishes a task for a "direct" exchange through the default exchange; with any
    other type it uses the queue's own exchange and routing key. The type here is never declared to the broker
    (no_declare), so "topic" only selects that path; the broker keeps the workers' direct exchange.
    """
    return Queue(name, Exchange(name, type="topic", no_declare=True), routing_key=name, no_declare=True)


def message_signing(environ, serializer):
    """With ``CELERY_SECURITY_KEY`` set (fleet_message_signing): sign what this client sends with its key, accept only
    what a signer in ``CELERY_SECURITY_CERT_STORE`` signed (results, remote-control replies). As the fleet's app
    does (app/src/celery_fleet/settings.py); registers Celery's ``auth`` serializer with kombu.
    """
    key = environ.get("CELERY_SECURITY_KEY")
    if not key:
        return {}
    from celery.security.serialization import register_auth  # needs cryptography (celery[auth])

    cert, store = environ["CELERY_SECURITY_CERTIFICATE"], environ["CELERY_SECURITY_CERT_STORE"]
    with open(key) as key_file, open(cert) as cert_file:
        register_auth(key_file.read(), None, cert_file.read(), store, "sha256", serializer)
    auth = ["auth"]
    return {
        "task_serializer": "auth",
        "result_serializer": "auth",
        "accept_content": auth,
        "result_accept_content": auth,
    }


def settings(environ):
    """The Celery settings for the CELERY_* variables in ``environ``."""
    broker_url = environ.get("CELERY_BROKER_URL", "")
    serializer = environ.get("CELERY_SERIALIZER") or "json"
    accept = list(dict.fromkeys([serializer, "json"]))
    default_queue = environ.get("CELERY_TASK_DEFAULT_QUEUE") or "celery"
    routes = json.loads(environ.get("CELERY_TASK_ROUTES") or "{}")
    queues = [default_queue, *(route["queue"] if isinstance(route, dict) else route for route in routes.values())]
    result = {
        "broker_url": broker_url,
        "result_backend": environ.get("CELERY_RESULT_BACKEND") or "rpc://",
        "task_serializer": serializer,
        # A Redis result store keeps bare payloads: the reader must know their format.
        "result_serializer": serializer,
        "accept_content": accept,
        "result_accept_content": accept,
        "task_default_queue": default_queue,
        "task_routes": routes,
        "task_queues": [task_queue(name) for name in dict.fromkeys(queues)],
        # Reliability (the README's Reliability section): a send returns once the broker has confirmed it took the
        # task (publisher confirms), retries across a broker restart, and a silent broker is noticed through
        # heartbeats. Messages are persistent (Celery's default).
        "broker_transport_options": {"confirm_publish": True},
        "broker_heartbeat": int(environ.get("CELERY_BROKER_HEARTBEAT") or 10),
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 15, "interval_start": 0, "interval_step": 1, "interval_max": 2},
    }
    if broker_url.startswith("amqps://"):
        # Verify the broker: a certificate signed by the fleet's CA, issued for the host of the URL (kombu fills
        # in the URL's host for server_hostname None and then checks it).
        result["broker_use_ssl"] = {
            "ca_certs": environ.get("CELERY_BROKER_SSL_CA_CERTS") or None,
            "cert_reqs": ssl.CERT_REQUIRED,
            "server_hostname": environ.get("CELERY_BROKER_SSL_SERVER_HOSTNAME") or None,
        }
        if environ.get("CELERY_BROKER_SSL_CERTFILE"):
            # Mutual TLS (fleet_tls_client_certs): this client's certificate is its identity (EXTERNAL login).
            result["broker_use_ssl"].update(
                certfile=environ["CELERY_BROKER_SSL_CERTFILE"], keyfile=environ.get("CELERY_BROKER_SSL_KEYFILE")
            )
    if environ.get("CELERY_BROKER_LOGIN_METHOD"):
        result["broker_login_method"] = environ["CELERY_BROKER_LOGIN_METHOD"]
    result.update(message_signing(environ, serializer))
    return result


globals().update(settings(os.environ))
