"""Filters that wire the fleet together: topology, broker URLs, TLS names, RabbitMQ permissions, worker instances.

roles/fleet/vars/main.yml reads the fleet_* inputs through these functions; each one is a plain Python function
with unit tests in tests/test_fleet_wiring.py, so the YAML that calls them stays data.
"""

import ipaddress
import os
import re
from urllib.parse import quote

# The rpc result queue of a client: named by a UUID (Celery's app.oid).
RE_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Celery's own entities: remote control (celery.pidbox, reply.celery.pidbox, <node>.celery.pidbox and
# <uuid>.reply.celery.pidbox queues) and events (celeryev, celeryev.<uuid> queues).
RE_CONTROL = r"celery\.pidbox|reply\.celery\.pidbox|.+\.celery\.pidbox|celeryev|celeryev\..+"
# With quorum queues, Celery's native delayed delivery (countdown, ETA, retries) declares celery_delayed_<level>
# exchanges and queues and a celery_delayed_delivery exchange, and routes delayed tasks through them.
RE_DELAYED = "celery_delayed_[0-9]+|celery_delayed_delivery"
# Where Celery publishes a countdown or ETA task on quorum queues (its first delay level's exchange).
DELAYED_ENTRY = "celery_delayed_27"


def fleet_host_address(host, hostvars, *variables):
    """The address ``host`` is reached at: the first of its ``variables`` that is set (fleet_address, ...), else
    ansible_host, else its name."""
    if not host:
        return ""
    values = hostvars.get(host, {})
    for name in (*variables, "ansible_host"):
        value = values.get(name)
        if value not in (None, ""):
            return str(value)
    return str(host)


def fleet_host_addresses(hosts, hostvars, *variables):
    """``fleet_host_address`` of each host, in order."""
    return [fleet_host_address(host, hostvars, *variables) for host in hosts]


def fleet_named_addresses(hosts, hostvars, *variables):
    """``{name, address}`` of each host, in order: its inventory name and ``fleet_host_address``."""
    return [{"name": str(host), "address": fleet_host_address(host, hostvars, *variables)} for host in hosts]


def fleet_host_values(hosts, hostvars, variable, default=None):
    """The value of ``variable`` on each host, in order (``default`` where it is unset)."""
    return [hostvars.get(host, {}).get(variable, default) for host in hosts]


def fleet_host_facts(hosts, hostvars, fact):
    """``{host: its gathered fact}`` for each host; ``unknown`` where the host has not gathered it."""
    return {host: str((hostvars.get(host, {}).get("ansible_facts") or {}).get(fact, "unknown")) for host in hosts}


def fleet_mixed_facts(facts):
    """``host: value`` of each host, sorted by host, when ``facts`` ({host: value}) hold more than one value; else
    an empty list."""
    if len(set(facts.values())) < 2:
        return []
    return [f"{host}: {value}" for host, value in sorted(facts.items())]


def fleet_rabbitmq_nodes(hosts, hostvars):
    """The RabbitMQ node name of each broker host, in order: its ``fleet_rabbitmq_node`` if set, else
    ``rabbit@<short host name>``, the name Debian's package gives the node (from the host's gathered facts, else
    its inventory name up to the first dot). Other members reach the node by that host name.
    """
    nodes = []
    for host in hosts:
        values = hostvars.get(host, {})
        if values.get("fleet_rabbitmq_node"):
            nodes.append(str(values["fleet_rabbitmq_node"]))
            continue
        short = (values.get("ansible_facts") or {}).get("hostname") or str(host).split(".")[0]
        nodes.append(f"rabbit@{short}")
    return nodes


def fleet_url_quote(value):
    """Percent-encode a user name, password or vhost for a URL: every character but letters, digits and ``_.-~``."""
    return quote(str(value), safe="")


def fleet_url(scheme, host, port, user=None, password=None, path=""):
    """``scheme://user:password@host:port/path`` with user, password and path percent-encoded.

    ``password`` None leaves it out (mutual TLS: the certificate is the identity); ``user`` None leaves out both.
    The path is one segment (an AMQP vhost, "/" included, or a Redis database number).
    """
    credentials = ""
    if user is not None:
        credentials = fleet_url_quote(user)
        if password is not None:
            credentials += ":" + fleet_url_quote(password)
        credentials += "@"
    return f"{scheme}://{credentials}{host}:{port}/{fleet_url_quote(path)}"


def fleet_failover_url(scheme, hosts, ports, user=None, password=None, path=""):
    """One broker URL for several brokers (a cluster's nodes): each one's ``fleet_url``, separated by ``;``.

    Celery and kombu connect to the first and fail over to the next in turn (broker_failover_strategy). ``ports``
    is one port for every host, or a list with one per host.
    """
    if not isinstance(ports, (list, tuple)):
        ports = [ports] * len(hosts)
    urls = (fleet_url(scheme, host, port, user, password, path) for host, port in zip(hosts, ports, strict=True))
    return ";".join(urls)


def fleet_subject_alt_names(names):
    """Subject alternative names of a certificate for ``names``: ``IP:`` for addresses, ``DNS:`` for host names."""
    sans = []
    for name in names:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            sans.append(f"DNS:{name}")
        else:
            sans.append(f"IP:{name}")
    return sans


def fleet_unique_names(names):
    """The non-empty names, trimmed, each once, in order."""
    result = []
    for name in names:
        name = str(name).strip()
        if name and name not in result:
            result.append(name)
    return result


def fleet_tls_servers(servers, dual_use=()):
    """The servers that get a certificate: ``{file name: [names, first is the subject]}`` -> list of dicts.

    A server without names is left out (no TLS for it). Its certificate is for TLS servers (serverAuth); those in
    ``dual_use`` also connect with it as TLS clients (clientAuth: a cluster's RabbitMQ nodes, to each other).
    """
    return [
        {
            "name": name,
            "names": list(names),
            "sans": fleet_subject_alt_names(names),
            "usages": ["serverAuth", "clientAuth"] if name in dual_use else ["serverAuth"],
        }
        for name, names in servers.items()
        if names
    ]


def fleet_broker_certificates(hosts, hostvars, cluster):
    """The RabbitMQ certificates to make: ``{file name: names}``, the names each broker is reached by.

    Each host's names are its inventory name, its address (fleet_broker_address, ansible_host), its address for
    clients (fleet_client_broker_address) and its fleet_tls_broker_names. One broker: its certificate is
    ``broker``. A cluster: each node has its own, ``broker-<host>``, which also names the node's short host name
    (other nodes and the CLI tools reach it by that name over inter-node TLS).
    """
    certificates = {}
    for host in hosts if cluster else hosts[:1]:
        values = hostvars.get(host, {})
        names = [
            host,
            fleet_host_address(host, hostvars, "fleet_broker_address"),
            values.get("fleet_client_broker_address") or "",
            *(values.get("fleet_tls_broker_names") or []),
        ]
        if cluster:
            names.append(fleet_rabbitmq_nodes([host], hostvars)[0].split("@", 1)[1])
        certificates[f"broker-{host}" if cluster else "broker"] = fleet_unique_names(names)
    return certificates


def fleet_identities(worker_hosts, worker_user, client_user, monitor_user):
    """The certificates of identities (mutual TLS, message signing): one per worker host, the client's, monitoring's.

    The common name is the broker user the certificate logs in as; the unit says what holds it.
    """
    identities = [{"name": f"worker-{host}", "common_name": worker_user, "unit": host} for host in worker_hosts]
    identities.append({"name": "client", "common_name": client_user, "unit": "clients"})
    identities.append({"name": "monitor", "common_name": monitor_user, "unit": "monitoring"})
    return identities


def fleet_serves_by_host(worker_hosts, hostvars, worker_groups):
    """Worker host -> names of the worker groups it runs (its fleet_worker_serves; by default every group)."""
    every_group = list(worker_groups)
    result = {}
    for host in worker_hosts:
        serves = hostvars.get(host, {}).get("fleet_worker_serves")
        result[host] = every_group if serves is None else serves
    return result


def _route_queue(route):
    return route.get("queue") if isinstance(route, dict) else route


def fleet_routed_queues(default_queue, task_routes):
    """The queues tasks are sent to: the default queue, then each route's, each once."""
    return fleet_unique_names([default_queue, *(_route_queue(route) for route in task_routes.values())])


def fleet_served_queues(serves_by_host, worker_groups):
    """The queues some worker host consumes from."""
    queues = []
    for serves in serves_by_host.values():
        for name in serves if isinstance(serves, list) else []:
            group = worker_groups.get(name)
            if isinstance(group, dict):
                queues.extend(group.get("queues") or [])
    return fleet_unique_names(queues)


def fleet_task_queues(default_queue, worker_groups, task_routes):
    """Every task queue of the fleet: the default queue, each worker group's, each route's, each once."""
    served = []
    for group in worker_groups.values():
        if isinstance(group, dict):
            served.extend(group.get("queues") or [])
    routed = fleet_routed_queues(default_queue, task_routes)
    return fleet_unique_names([routed[0], *served, *routed[1:]])


def fleet_permissions(task_queues, delayed_delivery=False):
    """RabbitMQ permission regexes of the fleet's three identities on its vhost, least privilege.

    - worker (and beat): its task queues and exchanges (Celery names each queue's exchange after it), Celery's
      control and event entities, publishing results to the default exchange (rpc), and an rpc result queue of its
      own (beat, tasks that send tasks); with ``delayed_delivery`` (quorum queues) Celery's delayed-delivery
      exchanges and queues;
    - client: publish to the task exchanges (with ``delayed_delivery``, also to the delayed-delivery entry exchange,
      where Celery sends countdown and ETA tasks), declare and read its own rpc result queue; nothing else, so a
      client cannot consume, purge or delete a task queue, nor send remote-control commands to workers;
    - monitor: remote control and events (celery inspect, Flower). Celery's inspect and control commands share one
      exchange, so this identity can also send control commands (shutdown included).
    """
    tasks = "|".join(re.escape(str(queue)) for queue in task_queues)
    delayed = f"|{RE_DELAYED}" if delayed_delivery else ""
    worker = f"^({tasks}|{RE_CONTROL}|{RE_UUID}{delayed})$"
    control = f"^({RE_CONTROL})$"
    return {
        "worker": {
            "configure_priv": worker,
            "write_priv": rf"^({tasks}|{RE_CONTROL}|amq\.default{delayed})$",
            "read_priv": worker,
        },
        "client": {
            "configure_priv": f"^{RE_UUID}$",
            "write_priv": f"^({tasks}{'|' + DELAYED_ENTRY if delayed_delivery else ''})$",
            "read_priv": f"^{RE_UUID}$",
        },
        "monitor": {"configure_priv": control, "write_priv": control, "read_priv": control},
    }


def fleet_longest_time_limit(worker_groups, role_default=300):
    """The longest hard time limit of the worker groups (``role_default`` for a group that sets none)."""
    limits = [role_default]
    for group in worker_groups.values():
        if isinstance(group, dict):
            limits.append(int(group.get("time_limit") or role_default))
    return max(limits)


def fleet_worker_instances(serves, worker_groups):
    """The worker groups one host runs, as instances: ``{name, **group settings}`` for each known group it serves."""
    return [dict(worker_groups[name], name=name) for name in serves if isinstance(worker_groups.get(name), dict)]


def fleet_env_files(ca_file, identity_dir, identity="", signers=(), key_mode="0640"):
    """The files an env file outside the workers names (celery_env_settings), as ``[{src, dest, mode}]``.

    ``ca_file``: the CA certificate the broker is verified with (empty: no TLS) -> ``broker-ca.pem``; ``identity``:
    the identity whose certificate and key it presents and signs with (empty: none) -> ``<identity>.crt``/``.key``
    (the key with ``key_mode``: by default readable by the owner and group only, for a service's group);
    ``signers``: the identities whose signatures it accepts -> ``trusted-signers/<name>.crt``. ``dest`` is relative
    to the env file's directory.
    """
    files = [{"src": ca_file, "dest": "broker-ca.pem", "mode": "0644"}] if ca_file else []
    if identity:
        files.append({"src": f"{identity_dir}/{identity}.crt", "dest": f"{identity}.crt", "mode": "0644"})
        files.append({"src": f"{identity_dir}/{identity}.key", "dest": f"{identity}.key", "mode": key_mode})
    files += [
        {"src": f"{identity_dir}/{name}.crt", "dest": f"trusted-signers/{name}.crt", "mode": "0644"} for name in signers
    ]
    return files


def fleet_client_env_files(env_files, ca_file, identity_dir, identities=False, signers=()):
    """Every file the control node's env files name, beside each one: ``[{src, dest, mode}]``, ``dest`` absolute.

    ``env_files``: ``[{role, file}]`` (the client's, the monitoring identity's); each presents its role's identity
    when ``identities`` (mutual TLS or signing). Keys are the user's own (mode 0600); a file that two env files in
    one directory share (the CA, the trusted signers) is named once.
    """
    copies = {}
    for env in env_files:
        identity = env["role"] if identities else ""
        for item in fleet_env_files(ca_file, identity_dir, identity, signers, key_mode="0600"):
            dest = os.path.join(os.path.dirname(env["file"]), item["dest"])
            copies.setdefault(dest, {**item, "dest": dest})
    return list(copies.values())


class FilterModule:
    """The fleet's wiring filters."""

    def filters(self):
        return {
            name: function for name, function in globals().items() if name.startswith("fleet_") and callable(function)
        }
