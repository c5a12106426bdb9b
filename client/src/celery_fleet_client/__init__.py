"""Send tasks to a celery-fleet by name, with Celery and this package only (not the tasks code).

One call for each way an app configures Celery:

- the env file that site.yml writes (``fleet_client_env_file``): source it and ``Celery()`` or the stock ``celery``
  CLI reads :mod:`celery_fleet_client.config` (the file sets ``CELERY_CONFIG_MODULE``);
- a plain app in code: ``configure(Celery("my-app"), read_env_file(path))``;
- Django: ``globals().update(django_settings(read_env_file(path)))`` in settings.py, with the usual
  ``app.config_from_object("django.conf:settings", namespace="CELERY")``.

The client's broker identity may publish to the task exchanges and read its own results, nothing else: it cannot
declare an exchange or a queue. The settings list every task queue with ``no_declare``; ``check()`` refuses settings
that would make Celery declare one, with a message that says what to set instead of the broker's bare 403.
"""

from pathlib import Path

from kombu import Exchange, Queue

from celery_fleet_client import env as contract

__version__ = "0.1.0"


class FleetClientError(ValueError):
    """Client settings that the fleet's broker would refuse; the message says what to set."""


def task_queue(name, native_delayed_delivery=False):
    """A task queue as a client sees it: the exchange of the same name that the workers declared, never declared here.

    The client identity may publish to the task exchanges only: it cannot declare, bind, read or delete a queue, nor
    write to the default exchange (which would reach any queue by name, the workers' remote-control mailboxes
    included). Celery publishes a task for a "direct" exchange through the default exchange; with any other type it
    uses the queue's own exchange and routing key. The type here is never declared to the broker (no_declare), so
    "topic" only selects that path; the broker keeps the workers' exchange, direct or topic.

    With ``native_delayed_delivery`` (quorum queues on the workers' topic exchanges: FleetEnv.native_delayed_delivery)
    the queue also says it is a quorum queue, which is how Celery decides to send a countdown or ETA task through
    RabbitMQ's delayed-delivery exchanges instead of straight to the queue (never declared here either).
    """
    arguments = {"x-queue-type": "quorum"} if native_delayed_delivery else None
    return Queue(
        name,
        Exchange(name, type="topic", no_declare=True),
        routing_key=name,
        queue_arguments=arguments,
        no_declare=True,
    )


def _sh_value(text):
    """The value of one ``NAME=value`` line as sh reads it, or None when it expands a variable (``$...``).

    Handles what site.yml writes: double quotes with backslash escapes of ``\\ " $ `` and backquote, single quotes,
    bare words (a value ends at the first unquoted blank: what follows it is a comment or nothing).
    """
    out, quote, index = [], None, 0
    while index < len(text):
        char = text[index]
        if quote == "'":
            if char == "'":
                quote = None
            else:
                out.append(char)
        elif quote == '"':
            if char == '"':
                quote = None
            elif char == "\\" and text[index + 1 : index + 2] in ("\\", '"', "$", "`"):
                index += 1
                out.append(text[index])
            elif char == "$":
                return None
            else:
                out.append(char)
        elif char in ("'", '"'):
            quote = char
        elif char == "\\" and index + 1 < len(text):
            index += 1
            out.append(text[index])
        elif char == "$":
            return None
        elif char.isspace():
            break
        else:
            out.append(char)
        index += 1
    if quote:
        raise FleetClientError(f"unterminated {quote} quote in the env file value {text!r}")
    return "".join(out)


def read_env_file(path):
    """The variables of an env file that site.yml wrote (``NAME="value"`` lines, sh quoting), as a dict.

    Comments and blank lines are skipped, and so are values that expand other variables (PYTHONPATH's
    ``${PYTHONPATH:+...}``): what remains is what ``set -a && . file`` would export, without running a shell.
    """
    variables = {}
    for line in Path(path).read_text().splitlines():
        name, sep, value = line.strip().partition("=")
        if not sep or name.startswith("#") or not name.isidentifier():
            continue
        parsed = _sh_value(value)
        if parsed is not None:
            variables[name] = parsed
    return variables


def settings(environ=None):
    """The Celery settings (lower-case names) of a client for the CELERY_* variables in ``environ`` (os.environ)."""
    import os

    fleet = contract.read(os.environ if environ is None else environ)
    accept = contract.accept_content(fleet)
    result = {
        "broker_url": fleet.broker_url,
        "broker_use_ssl": contract.broker_use_ssl(fleet),
        "result_backend": fleet.result_backend,
        "task_serializer": fleet.serializer,
        # A Redis result store keeps bare payloads: the reader must know their format.
        "result_serializer": fleet.serializer,
        "accept_content": accept,
        "result_accept_content": accept,
        "task_default_queue": fleet.default_queue,
        "task_routes": fleet.routes,
        "task_queues": [task_queue(name, fleet.native_delayed_delivery) for name in fleet.task_queues],
        # Reliability (docs/reliability.md): a send returns once the broker has confirmed it took the task, retries
        # across a broker restart, and a silent broker is noticed through heartbeats. Messages are persistent.
        "broker_transport_options": dict(contract.TRANSPORT_OPTIONS),
        "broker_heartbeat": fleet.heartbeat,
        "broker_failover_strategy": contract.FAILOVER_STRATEGY,
        "task_publish_retry": True,
        "task_publish_retry_policy": dict(contract.PUBLISH_RETRY_POLICY),
    }
    if not result["broker_use_ssl"]:
        del result["broker_use_ssl"]
    if fleet.login_method:
        result["broker_login_method"] = fleet.login_method
    if fleet.pool_limit is not None:
        result["broker_pool_limit"] = fleet.pool_limit
    result.update(contract.message_signing(fleet))
    return result


def check(conf):
    """Refuse client settings that the fleet's broker would answer with ACCESS_REFUSED (403), saying what to set.

    ``conf`` is a Celery app's ``conf`` or a dict of lower-case settings.
    """
    get = conf.get
    queues = get("task_queues") or []
    declared = [queue.name for queue in queues if not getattr(queue, "no_declare", False)]
    missing = get("task_default_queue") or contract.DEFAULT_QUEUE
    if not queues:
        raise FleetClientError(
            "task_queues is not set, so Celery would declare the exchange and queue "
            f"{missing!r} and the fleet's broker would refuse it (ACCESS_REFUSED: a client may not declare). "
            "Set task_queues to [celery_fleet_client.task_queue(name) for each queue you send to], or take all "
            "settings from celery_fleet_client.settings() / configure()."
        )
    if declared:
        raise FleetClientError(
            f"task_queues {declared} would be declared, and the fleet's broker refuses a client that declares "
            "(ACCESS_REFUSED). Use celery_fleet_client.task_queue(name), which sets no_declare."
        )
    names = {queue.name for queue in queues}
    if missing not in names:
        raise FleetClientError(
            f"task_default_queue {missing!r} is not in task_queues ({sorted(names)}): Celery would declare it and "
            "the fleet's broker would refuse it (ACCESS_REFUSED). Add celery_fleet_client.task_queue("
            f"{missing!r}) to task_queues."
        )


def configure(app, environ=None):
    """Give a plain Celery app the fleet's client settings for ``environ`` (os.environ), check them, return the app."""
    app.conf.update(settings(environ))
    check(app.conf)
    return app


def django_settings(environ=None, namespace="CELERY"):
    """The client settings as Django settings names (``CELERY_BROKER_URL``, ...) for ``namespace`` (CELERY)."""
    return {f"{namespace}_{name.upper()}": value for name, value in settings(environ).items()}
