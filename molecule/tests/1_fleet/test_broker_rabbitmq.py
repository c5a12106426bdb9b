"""The RabbitMQ broker: running at boot, with its limits and cookie, no guest. Security: test_security.py."""

import json
import re
import shlex

import amqp
import pytest
from amqp.exceptions import AccessRefused
from fleettest.clients import amqp_url, connect
from fleettest.scenario import (
    BROKER,
    EXCHANGE_TYPE,
    MTLS,
    QUEUE_TYPE,
    converge,
    rabbitmq_only,
    recap_changes,
    run_converge,
)
from kombu.exceptions import OperationalError

pytestmark = rabbitmq_only


# --- broker -----------------------------------------------------------------------------------------------------


def test_rabbitmq_is_running_and_enabled(broker):
    service = broker.service("rabbitmq-server")
    assert service.is_running
    assert service.is_enabled


def test_rabbitmq_open_file_limit_comes_from_the_drop_in(broker):
    assert broker.file("/etc/systemd/system/rabbitmq-server.service.d/celery-fleet.conf").exists
    assert broker.check_output("systemctl show rabbitmq-server -p LimitNOFILE --value") == "65536"


def test_erlang_cookie_is_private(broker):
    cookie = broker.file("/var/lib/rabbitmq/.erlang.cookie")
    assert cookie.user == "rabbitmq"
    assert cookie.mode == 0o400


def test_guest_cannot_authenticate(broker_ip):
    # With mutual TLS no password login is offered at all (the broker names EXTERNAL only): refused before any user.
    refused = (AccessRefused, amqp.exceptions.ConnectionError, OperationalError) if MTLS else AccessRefused
    for vhost in ("/", "fleet"):
        with pytest.raises(refused):
            connect(amqp_url(broker_ip, "guest", "guest", vhost), login_method="PLAIN")


def test_guest_user_is_deleted(broker):
    users = broker.check_output("rabbitmqctl -q list_users")
    assert "guest" not in users.split()


def test_the_inventorys_own_user_sits_beside_the_fleets_identities(broker):
    """fleet_rabbitmq_extra_users (the base config) adds a user without replacing the fleet's derived ones."""
    users = dict(line.split("\t", 1) for line in broker.check_output("rabbitmqctl -q list_users").splitlines())
    assert users["fleet-audit"].strip("[]") == "monitoring"
    assert {"fleet", "fleet-client"} <= set(users)
    # -q still prints the header line (vhost, configure, write, read) first.
    permissions = broker.check_output("rabbitmqctl -q list_user_permissions fleet-audit").splitlines()[-1]
    assert permissions.split("\t") == ["fleet", "^$", "^$", r"^audit\..*$"]


def test_the_inventorys_own_policy_is_set_and_leaves_the_task_queues_alone(broker):
    """fleet_rabbitmq_extra_policies (the base config) sets a policy of the inventory's own on its vhost."""
    policies = json.loads(broker.check_output("rabbitmqctl -q list_policies -p fleet --formatter json"))
    audit = [policy for policy in policies if policy["name"] == "audit-ttl"]
    assert len(audit) == 1, policies
    assert (audit[0]["pattern"], audit[0]["apply-to"]) == (r"^audit\.", "queues")
    definition = audit[0]["definition"]
    assert (json.loads(definition) if isinstance(definition, str) else definition) == {"message-ttl": 60000}
    queues = json.loads(broker.check_output("rabbitmqctl -q list_queues -p fleet name policy --formatter json"))
    task_queues = {queue["name"]: queue.get("policy") for queue in queues if queue["name"] in ("celery", "io")}
    assert set(task_queues) == {"celery", "io"}
    assert not any(task_queues.values()), task_queues


def authenticates(broker, user, password):
    """Whether RabbitMQ's internal database accepts ``password`` for ``user`` (either login method)."""
    return broker.run(f"rabbitmqctl -q authenticate_user {shlex.quote(user)} {shlex.quote(password)}").rc == 0


def test_a_password_changed_in_the_inventory_is_applied_by_the_next_run(broker, monitor_password):
    """A rotated vault password reaches the broker on the next run, as one import of a hash; then it is put back.

    Narrowed to the broker's access (--tags rabbitmq_access), the one part of a run this is about.
    """
    rotated = monitor_password + "-rotated"
    output = converge([BROKER], "-e", json.dumps({"fleet_amqp_monitor_password": rotated}), "--tags", "rabbitmq_access")
    try:
        assert authenticates(broker, "fleet-monitor", rotated)
        assert not authenticates(broker, "fleet-monitor", monitor_password)
        assert rotated not in output
        # One change: the import of the one user whose password changed.
        assert re.search(rf"^{BROKER}\s+: ok=\d+\s+changed=1 ", output, re.M), output[-2000:]
    finally:
        output = converge([BROKER], "--tags", "rabbitmq_access")
    assert authenticates(broker, "fleet-monitor", monitor_password)
    assert re.search(rf"^{BROKER}\s+: ok=\d+\s+changed=1 ", output, re.M), output[-2000:]


def test_a_run_that_would_change_a_task_queues_type_is_refused_before_anything_changes(broker):
    """The broker holds the task queues with the scenario's types; a run that would declare them with the other ones
    (growing one broker into a cluster flips both defaults, to quorum queues on topic exchanges) stops in the
    broker play's first check, naming each queue and exchange, before anything on a host changes."""
    queue_type = {"classic": "quorum", "quorum": "classic"}[QUEUE_TYPE]
    exchange_type = {"direct": "topic", "topic": "direct"}[EXCHANGE_TYPE]
    done = run_converge(
        [BROKER], "-e", f"fleet_queue_type={queue_type}", "-e", f"fleet_task_exchange_type={exchange_type}"
    )
    output = done.stdout + done.stderr  # Ansible reports a failed task on stderr
    assert done.returncode != 0, output[-2000:]
    for line in (
        f"queue celery is {QUEUE_TYPE}, fleet_queue_type is {queue_type}",
        f"exchange celery is {EXCHANGE_TYPE}, fleet_task_exchange_type is {exchange_type}",
        "Growing one broker into a cluster",
    ):
        assert line in output, output[-3000:]
    changes = recap_changes(done.stdout)
    assert set(changes.values()) == {0}, changes


def test_workers_do_not_gossip(broker):
    """fleet_worker_gossip is off: no worker binds a queue to every other worker's events. Celery's gossip binds one
    queue per worker with ``worker.#`` on the celeryev exchange; the workers' remote-control queues show they are
    connected."""
    listing = broker.check_output("rabbitmqctl -q list_bindings -p fleet source_name routing_key --formatter json")
    bindings = [(entry["source_name"], entry["routing_key"]) for entry in json.loads(listing)]
    assert sum(source == "celery.pidbox" for source, _ in bindings) >= 2, bindings
    assert ("celeryev", "worker.#") not in bindings
