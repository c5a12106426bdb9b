"""The broker cluster: every broker host in one cluster, Erlang distribution over TLS and closed to everyone but
the members, the task queues quorum queues with a member on every node, and the workers' delayed-delivery setup on
their own connection. Losing a node under load is 2_faults/test_cluster_faults.py's.
"""

import json
import re
import shlex

import pytest
from fleettest import cluster
from fleettest.scenario import BROKERS, cluster_only
from fleettest.wait import wait_for

pytestmark = cluster_only

NODES = {f"rabbit@{name}" for name in BROKERS}
TLS_FILES = "-CAfile /etc/rabbitmq/tls/ca.pem -cert /etc/rabbitmq/tls/cert.pem -key /etc/rabbitmq/tls/key.pem"


def running_nodes(host):
    """The members ``host``'s node sees running."""
    return cluster.running_nodes(host.backend.name)


def test_every_broker_host_is_a_running_member_of_one_cluster(brokers):
    for host in brokers:
        assert running_nodes(host) == NODES, host.backend.hostname


def test_erlang_distribution_speaks_tls_with_the_fleets_certificates(brokers):
    """A member's certificate from the fleet's CA opens the distribution port of another member, whose own
    certificate is verified against that member's name; a peer without a certificate is refused in the handshake."""
    first, second = brokers[0], brokers[1]
    peer = BROKERS[1]
    handshake = first.run(
        f"openssl s_client -connect {peer}:25672 {TLS_FILES} -verify_return_error -verify_hostname {peer} -brief "
        "</dev/null"
    )
    assert "Verification: OK" in handshake.stderr, handshake.stderr
    # TLS 1.2, so that the server's demand for a client certificate is part of the handshake (TLS 1.3 checks it
    # after the client has finished its side).
    anonymous = first.run(
        f"openssl s_client -tls1_2 -connect {peer}:25672 -CAfile /etc/rabbitmq/tls/ca.pem -brief </dev/null"
    )
    assert anonymous.rc != 0, anonymous.stderr
    assert running_nodes(second) == NODES


# An Erlang node started beside the broker on the first host, with the broker's cookie, that tries to reach the
# second host's node over TLS distribution with one of these certificates: the node's own from the fleet's CA (the
# control: it must get in), one from a CA the fleet did not make, or none.
_PROBE_CERTS = {
    "the fleet's": '{certfile, "/etc/rabbitmq/tls/cert.pem"}, {keyfile, "/etc/rabbitmq/tls/key.pem"},',
    "another CA's": '{certfile, "/run/probe/other.pem"}, {keyfile, "/run/probe/other.key"},',
    "no": "",
}


@pytest.mark.parametrize(("certificate", "answer"), [("the fleet's", "pong"), ("another CA's", "pang"), ("no", "pang")])
def test_a_node_with_the_cookie_joins_only_with_a_certificate_from_the_fleets_ca(brokers, certificate, answer):
    first = brokers[0]
    options = (
        # The probe's own listener needs a certificate to start; only its client side is tried here.
        '[{server, [{certfile, "/run/probe/other.pem"}, {keyfile, "/run/probe/other.key"}]}, {client, ['
        + _PROBE_CERTS[certificate]
        + ' {cacertfile, "/etc/rabbitmq/tls/ca.pem"}, {verify, verify_peer}]}].'
    )
    first.check_output(
        "install -d -m 0700 /run/probe && install -m 0400 /var/lib/rabbitmq/.erlang.cookie /run/probe/.erlang.cookie"
        " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=probe -keyout /run/probe/other.key"
        " -out /run/probe/other.pem 2>/dev/null"
        f" && printf '%s\\n' {shlex.quote(options)} > /run/probe/dist.config"
    )
    try:
        ping = f'io:format("ping=~p~n", [net_adm:ping(list_to_atom("rabbit@{BROKERS[1]}"))]), halt().'
        # The probe's cookie comes from its HOME, so it is on no command line.
        reply = first.check_output(
            "HOME=/run/probe timeout 60 erl -noshell -sname probe -proto_dist inet_tls"
            f" -ssl_dist_optfile /run/probe/dist.config -eval {shlex.quote(ping)}"
        )
    finally:
        first.run("rm -rf /run/probe")
    # Erlang also prints reports (a refused handshake's TLS alert): the probe's answer is the line it printed.
    assert re.findall(r"^ping=(\w+)$", reply, re.M) == [answer], reply
    # The probe never joined: the cluster still has exactly the broker hosts.
    assert running_nodes(first) == NODES


def test_task_queues_are_quorum_queues_with_a_member_on_every_node(broker):
    listing = json.loads(broker.check_output("rabbitmqctl -q list_queues -p fleet name type members --formatter json"))
    queues = {queue["name"]: queue for queue in listing}
    for name in ("celery", "io"):
        assert queues[name]["type"] == "quorum", queues[name]
        assert set(queues[name]["members"]) == NODES, queues[name]


def _delayed_messages(broker):
    """The messages waiting in RabbitMQ's delayed-delivery queues (celery_delayed_*), by queue."""
    listing = json.loads(broker.check_output("rabbitmqctl -q list_queues -p fleet name messages --formatter json"))
    return {queue["name"]: queue["messages"] for queue in listing if queue["name"].startswith("celery_delayed_")}


def test_countdown_tasks_wait_in_rabbitmq_not_in_a_worker(broker, client):
    """On quorum queues bound to topic exchanges (a cluster's default) a countdown task waits in RabbitMQ's
    delayed-delivery queues (set up by the workers' consumer on its own connection), not in a worker's prefetch,
    and runs when due."""
    assert set(_delayed_messages(broker)) == {f"celery_delayed_{level}" for level in range(28)}
    result = client.send_task("fleet.add", args=[40, 2], countdown=12)
    # RabbitMQ's queue statistics lag by up to 5 s: ask until the message shows (it waits 8 s, then 4 s).
    waiting = wait_for(lambda: sum(_delayed_messages(broker).values()), 10, interval=1, what="a delayed message")
    assert waiting == 1
    assert result.get(timeout=90) == 42


@pytest.mark.parametrize("port", [4369, 25672, 35672])
def test_erlang_ports_are_open_to_members_only(brokers, worker1, port):
    probe = (
        "import socket, sys; s = socket.socket(); s.settimeout(5); print(s.connect_ex((sys.argv[1], int(sys.argv[2]))))"
    )
    for name in BROKERS:
        # A worker is refused on every node; a member reaches every other one (35672 only while a CLI tool runs,
        # so its test is only that the firewall refuses it to workers).
        assert worker1.check_output(f"python3 -c {shlex.quote(probe)} {name} {port}") != "0", (name, port)
    if port != 35672:
        for name in BROKERS[1:]:
            assert brokers[0].check_output(f"python3 -c {shlex.quote(probe)} {name} {port}") == "0", (name, port)


@pytest.mark.parametrize(("name", "unit"), [("worker1", "celery-worker-default"), ("worker2", "celery-worker-io")])
def test_workers_set_up_delayed_delivery_on_their_own_connection(request, name, unit):
    """The workers' consumer (celery_fleet_client.delayed_delivery) set up native delayed delivery on the connection
    it had, since the unit last started: no connection of its own to each node (Celery's step, which stalls failover,
    and which kombu would also have checked against the first node's name: failover_tls)."""
    host = request.getfixturevalue(name)
    invocation = host.check_output(f"systemctl show --property InvocationID --value {unit}")
    log = host.check_output(f"journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID={invocation}")
    assert "Native delayed delivery set up on amqps://" in log, log[-3000:]
    signs = (
        "Retrying delayed delivery setup",
        "Failed to setup delayed delivery",
        "Hostname mismatch",
        "direct exchange",
    )
    for sign in signs:
        assert sign not in log, log[-3000:]
