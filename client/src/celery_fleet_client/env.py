"""The fleet's env contract: the CELERY_* variables, their defaults, parsing, and the settings they make.

site.yml writes these variables into the workers' env file (roles/celery_worker/templates/etc/celery-fleet/) and
into client env files (playbooks/templates/client.env.j2); the worker's settings (app/src/celery_fleet/settings.py),
the client settings (celery_fleet_client) and the tests read them through this module only.
"""

import json
import ssl
from dataclasses import dataclass, field

from celery.schedules import crontab

from celery_fleet_client import failover_tls

# Defaults, for a variable that is unset or empty.
DEFAULT_BROKER_URL = "amqp://localhost:5672//"
DEFAULT_RESULT_BACKEND = "rpc://"
DEFAULT_QUEUE = "celery"  # Celery's own
DEFAULT_QUEUE_TYPE = "classic"
DEFAULT_HEARTBEAT = 10  # seconds; the inventory's fleet_broker_heartbeat
DEFAULT_SERIALIZER = "json"
SERIALIZERS = ("json", "msgpack", "pickle")
QUEUE_TYPES = ("classic", "quorum")
# The task queues' exchanges (each named after its queue). "topic" lets Celery hold countdown and ETA tasks in
# RabbitMQ on quorum queues (native delayed delivery), which it does not do for "direct" exchanges.
DEFAULT_EXCHANGE_TYPE = "direct"
EXCHANGE_TYPES = ("direct", "topic")

# Reliability settings that workers and clients share (docs/reliability.md): a publish returns once the broker
# has confirmed it, and a send retries across a broker restart (about 30 s), not Celery's default of under a second.
TRANSPORT_OPTIONS = {"confirm_publish": True}
# A broker URL may list several brokers (a cluster's nodes, ';'-separated): connect to the next one in turn when
# one fails, each verified against its own host name (kombu fills in server_hostname from each URL).
FAILOVER_STRATEGY = "round-robin"
PUBLISH_RETRY_POLICY = {"max_retries": 15, "interval_start": 0, "interval_step": 1, "interval_max": 2}

TRUE = ("1", "true", "yes")


def _get(environ, name):
    value = environ.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


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
    name = (name or DEFAULT_SERIALIZER).strip().lower()
    if name not in SERIALIZERS:
        raise ValueError(f"CELERY_SERIALIZER must be one of {', '.join(SERIALIZERS)}, not {name!r}")
    if name == "pickle" and (allow_pickle or "").strip().lower() not in TRUE:
        raise ValueError(
            "CELERY_SERIALIZER=pickle lets anyone who can publish to the broker run code on the workers; "
            "it is refused unless CELERY_ALLOW_PICKLE=true (fleet_allow_pickle) says you accept that"
        )
    return name


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


@dataclass(frozen=True)
class FleetEnv:
    """The fleet's env contract, read and checked: one attribute per CELERY_* variable."""

    broker_url: str = DEFAULT_BROKER_URL  # CELERY_BROKER_URL: never in code, it carries a password
    ca_certs: str | None = None  # CELERY_BROKER_SSL_CA_CERTS: the CA the broker's certificate is checked against
    server_hostname: str | None = None  # CELERY_BROKER_SSL_SERVER_HOSTNAME: the name it must carry (URL's host)
    certfile: str | None = None  # CELERY_BROKER_SSL_CERTFILE: mutual TLS, this host's certificate
    keyfile: str | None = None  # CELERY_BROKER_SSL_KEYFILE: and its key
    login_method: str | None = None  # CELERY_BROKER_LOGIN_METHOD: EXTERNAL with mutual TLS
    heartbeat: int = DEFAULT_HEARTBEAT  # CELERY_BROKER_HEARTBEAT
    pool_limit: int | None = None  # CELERY_BROKER_POOL_LIMIT: publishing connections per process (unset: Celery's 10)
    result_backend: str = DEFAULT_RESULT_BACKEND  # CELERY_RESULT_BACKEND
    default_queue: str = DEFAULT_QUEUE  # CELERY_TASK_DEFAULT_QUEUE
    queue_type: str = DEFAULT_QUEUE_TYPE  # CELERY_TASK_DEFAULT_QUEUE_TYPE: classic or quorum
    exchange_type: str = DEFAULT_EXCHANGE_TYPE  # CELERY_TASK_DEFAULT_EXCHANGE_TYPE: direct or topic
    routes: dict = field(default_factory=dict)  # CELERY_TASK_ROUTES (JSON)
    serializer: str = DEFAULT_SERIALIZER  # CELERY_SERIALIZER, with CELERY_ALLOW_PICKLE for pickle
    security_key: str | None = None  # CELERY_SECURITY_KEY: message signing, this host's key
    security_certificate: str | None = None  # CELERY_SECURITY_CERTIFICATE: its certificate
    security_cert_store: str | None = None  # CELERY_SECURITY_CERT_STORE: glob of the trusted signers' certificates
    beat_schedule: dict = field(default_factory=dict)  # CELERY_BEAT_SCHEDULE (JSON; beat only)

    @property
    def native_delayed_delivery(self):
        """Whether countdown and ETA tasks wait in RabbitMQ (quorum queues on topic exchanges), not in a worker."""
        return self.queue_type == "quorum" and self.exchange_type == "topic"

    @property
    def task_queues(self):
        """Every queue a task may be sent to: the default queue, then each route's, each once."""
        return list(dict.fromkeys([self.default_queue, *(route["queue"] for route in self.routes.values())]))


def read(environ):
    """The contract's values in ``environ`` (os.environ, an env file's variables), checked; unset means default."""
    heartbeat = _get(environ, "CELERY_BROKER_HEARTBEAT")
    queue_type = _get(environ, "CELERY_TASK_DEFAULT_QUEUE_TYPE") or DEFAULT_QUEUE_TYPE
    if queue_type not in QUEUE_TYPES:
        raise ValueError(f"CELERY_TASK_DEFAULT_QUEUE_TYPE must be one of {', '.join(QUEUE_TYPES)}, not {queue_type!r}")
    exchange_type = _get(environ, "CELERY_TASK_DEFAULT_EXCHANGE_TYPE") or DEFAULT_EXCHANGE_TYPE
    if exchange_type not in EXCHANGE_TYPES:
        raise ValueError(
            f"CELERY_TASK_DEFAULT_EXCHANGE_TYPE must be one of {', '.join(EXCHANGE_TYPES)}, not {exchange_type!r}"
        )
    if heartbeat is not None and not heartbeat.isdigit():
        raise ValueError(f"CELERY_BROKER_HEARTBEAT must be a whole number of seconds, not {heartbeat!r}")
    pool_limit = _get(environ, "CELERY_BROKER_POOL_LIMIT")
    if pool_limit is not None and not pool_limit.isdigit():
        raise ValueError(f"CELERY_BROKER_POOL_LIMIT must be a whole number of connections, not {pool_limit!r}")
    signing = [_get(environ, f"CELERY_SECURITY_{name}") for name in ("KEY", "CERTIFICATE", "CERT_STORE")]
    if signing[0] and not all(signing):
        raise ValueError("CELERY_SECURITY_KEY needs CELERY_SECURITY_CERTIFICATE and CELERY_SECURITY_CERT_STORE")
    return FleetEnv(
        broker_url=_get(environ, "CELERY_BROKER_URL") or DEFAULT_BROKER_URL,
        ca_certs=_get(environ, "CELERY_BROKER_SSL_CA_CERTS"),
        server_hostname=_get(environ, "CELERY_BROKER_SSL_SERVER_HOSTNAME"),
        certfile=_get(environ, "CELERY_BROKER_SSL_CERTFILE"),
        keyfile=_get(environ, "CELERY_BROKER_SSL_KEYFILE"),
        login_method=_get(environ, "CELERY_BROKER_LOGIN_METHOD"),
        heartbeat=int(heartbeat) if heartbeat is not None else DEFAULT_HEARTBEAT,
        pool_limit=int(pool_limit) if pool_limit is not None else None,
        result_backend=_get(environ, "CELERY_RESULT_BACKEND") or DEFAULT_RESULT_BACKEND,
        default_queue=_get(environ, "CELERY_TASK_DEFAULT_QUEUE") or DEFAULT_QUEUE,
        queue_type=queue_type,
        exchange_type=exchange_type,
        routes=parse_routes(environ.get("CELERY_TASK_ROUTES", "")),
        serializer=parse_serializer(environ.get("CELERY_SERIALIZER"), environ.get("CELERY_ALLOW_PICKLE")),
        security_key=signing[0],
        security_certificate=signing[1],
        security_cert_store=signing[2],
        beat_schedule=parse_beat_schedule(environ.get("CELERY_BEAT_SCHEDULE", "")),
    )


def broker_use_ssl(env):
    """Celery's ``broker_use_ssl`` for an ``amqps://`` broker URL (``False`` for any other).

    The broker's certificate must be signed by ``env.ca_certs`` (the system's CAs when unset) and name the host of
    the URL (or ``env.server_hostname``): kombu checks the host name when the option is present, and fills in the
    URL's host when it is ``None``. With mutual TLS, ``certfile`` and ``keyfile`` are the certificate this host
    presents to the broker.
    """
    if not env.broker_url.startswith("amqps://"):
        return False
    if env.server_hostname is None:
        # kombu would pin the first connection's host for every later one (failover_tls says how).
        failover_tls.apply()
    options = {"ca_certs": env.ca_certs, "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": env.server_hostname}
    if env.certfile:
        options.update(certfile=env.certfile, keyfile=env.keyfile)
    return options


def accept_content(env):
    """What a reader accepts: its serializer and JSON (remote control and events speak JSON), nothing else."""
    return list(dict.fromkeys([env.serializer, "json"]))


def message_signing(env):
    """The settings that sign every message with this host's key (Celery's ``auth`` serializer), or ``{}``.

    On when ``CELERY_SECURITY_KEY`` is set. Tasks, results and remote-control messages are then signed, and only
    signed messages are accepted: an unsigned one, or one signed by a key not in the store, is refused and logged.
    The body inside the signature is the serializer. Registers the serializer with kombu (a process-wide registry)
    as Celery's ``setup_security`` would.
    """
    if not env.security_key:
        return {}
    from celery.security.serialization import register_auth  # needs cryptography (celery[auth])

    with open(env.security_key) as key_file, open(env.security_certificate) as cert_file:
        register_auth(key_file.read(), None, cert_file.read(), env.security_cert_store, "sha256", env.serializer)
    return {
        "task_serializer": "auth",
        "result_serializer": "auth",
        "accept_content": ["auth"],
        "result_accept_content": ["auth"],
        "security_key": env.security_key,
        "security_certificate": env.security_certificate,
        "security_cert_store": env.security_cert_store,
        "security_digest": "sha256",
    }
