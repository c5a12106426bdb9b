"""site.yml stops before changing anything when the inventory is wrong, and says which variable to fix.

Each case writes a small inventory whose hosts are unreachable on purpose (SSH to port 1 on loopback): the
preflight plays need no connection, so a case passes only if the preflight itself fails with the expected
message; had the preflight let the run through, the broker play would have ended "unreachable" instead.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")

VALID_FLEET = {
    "fleet_amqp_password": "a-long-enough-password",
    "fleet_amqp_client_password": "another-long-password",
    "fleet_worker_groups": {"default": {"queues": ["celery"]}, "io": {"queues": ["io"], "pool": "threads"}},
    "fleet_task_routes": {"fleet.fetch_*": "io"},
}
VALID_BROKER = {"rabbitmq_erlang_cookie": "abcdefghijklmnopqrstuvwxyz0123"}
# What a fleet with a monitor host needs beside: Flower's login and the monitoring identity.
MONITORED_FLEET = dict(
    VALID_FLEET, fleet_flower_password="a-long-flower-password", fleet_amqp_monitor_password="a-monitor-password"
)


def inventory(tmp_path, fleet=None, broker=None, brokers=("mq1",), workers=None, beat=(), redis=(), monitor=()):
    """Write an inventory: group_vars/all (fleet), group_vars/broker, hosts with host variables."""
    workers = workers if workers is not None else {"w1": {}}
    hosts = {
        "all": {
            "vars": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1},
            "children": {
                "broker": {"hosts": {name: {} for name in brokers}},
                "workers": {"hosts": workers},
                "beat": {"hosts": {name: {} for name in beat}},
                "redis": {"hosts": {name: {} for name in redis}},
                "monitor": {"hosts": {name: {} for name in monitor}},
            },
        }
    }
    (tmp_path / "group_vars" / "all").mkdir(parents=True)
    (tmp_path / "group_vars" / "broker").mkdir(parents=True)
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (tmp_path / "group_vars" / "all" / "fleet.yml").write_text(yaml.safe_dump(VALID_FLEET if fleet is None else fleet))
    (tmp_path / "group_vars" / "broker" / "rabbitmq.yml").write_text(
        yaml.safe_dump(VALID_BROKER if broker is None else broker)
    )
    return tmp_path / "hosts.yml"


def site(hosts_file, playbook="site.yml", *extra_args, environ=None):
    """Run ``playbook`` (site.yml) against ``hosts_file``; return its exit code and output on one line."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", **(environ or {}))
    run = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(hosts_file), *extra_args, playbook],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = " ".join((run.stdout + run.stderr).split())  # messages are wrapped; compare on single spaces
    return run.returncode, output


def without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            {"fleet": without(VALID_FLEET, "fleet_amqp_password")},
            "fleet_amqp_password must be set",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_amqp_password="{{ vault_fleet_amqp_password }}")},
            "fleet_amqp_password must be set",
        ),
        (
            {"fleet": without(VALID_FLEET, "fleet_amqp_client_password")},
            "fleet_amqp_client_password (the clients' broker identity, which may only send tasks and read their "
            "results) must be set",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_amqp_monitor_password="short")},
            "and so must fleet_amqp_monitor_password when set",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_tls_ca_cert="/etc/ssl/certs/ca-certificates.crt")},
            "fleet_tls_ca_cert, fleet_tls_broker_cert, fleet_tls_broker_key go together",
        ),
        (
            {
                "fleet": dict(
                    VALID_FLEET,
                    fleet_tls_ca_cert="/nonexistent/ca.pem",
                    fleet_tls_broker_cert="/nonexistent/broker.pem",
                    fleet_tls_broker_key="/nonexistent/broker.key",
                )
            },
            "These TLS files do not exist on the control node: /nonexistent/ca.pem",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_tls=False, fleet_tls_client_certs=True)},
            "fleet_tls_client_certs needs AMQP over TLS",
        ),
        (
            {
                "fleet": dict(
                    VALID_FLEET,
                    fleet_message_signing=True,
                    fleet_tls_ca_cert=str(REPO / "README.md"),
                    fleet_tls_broker_cert=str(REPO / "README.md"),
                    fleet_tls_broker_key=str(REPO / "README.md"),
                )
            },
            "cannot be combined with fleet_tls_ca_cert",
        ),
        (
            {"broker": {}},
            "rabbitmq_erlang_cookie",
        ),
        (
            {"broker": {"rabbitmq_erlang_cookie": "too-short"}},
            "rabbitmq_erlang_cookie",
        ),
        (
            {"brokers": ("mq1", "mq2")},
            'The inventory group "broker" (fleet_broker_group) must hold one broker host, or an odd number of three or '
            "more (a cluster); it holds 2: mq1, mq2. A cluster keeps working while a majority of its nodes is up: with "
            "2 nodes, losing 1 stops it, as with 1.",
        ),
        (
            {"brokers": ("mq1", "mq2", "mq3", "mq4")},
            "it holds 4: mq1, mq2, mq3, mq4. A cluster keeps working while a majority of its nodes is up: with 4 "
            "nodes, losing 2 stops it, as with 3. Use 3 or 5 hosts (or 1).",
        ),
        (
            {"workers": {}},
            'The inventory group "workers" (fleet_workers_group) has no hosts',
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_task_routes={"report.*": "reports"})},
            "No worker host serves the queue(s) reports",
        ),
        (
            {"workers": {"w1": {"fleet_worker_serves": ["default"]}}},
            "No worker host serves the queue(s) io",
        ),
        (
            {"workers": {"w1": {"fleet_worker_serves": ["reports"]}}},
            "fleet_worker_serves of w1 is ['reports']",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_worker_groups={"default": {"concurrency": 2}})},
            "fleet_worker_groups.default has no queues",
        ),
        (
            {
                "fleet": dict(
                    VALID_FLEET,
                    fleet_worker_groups={"default": {"queues": ["celery"], "pool": "gevnt"}},
                    fleet_task_routes={},
                )
            },
            "value of pool must be one of",
        ),
        (
            {"workers": {"w1": {}, "w2": {}}, "beat": ("w1", "w2")},
            'The group "beat" (fleet_beat_group) holds 2 hosts (w1, w2)',
        ),
        (
            {"beat": ("mq1",)},
            'The beat host mq1 must also be in the group "workers"',
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_beat_schedule={"tick": {"task": "fleet.tick", "every": 5}})},
            "fleet_beat_schedule has entries but no host runs celery beat",
        ),
        (
            {
                "fleet": dict(VALID_FLEET, fleet_beat_schedule={"tick": {"task": "fleet.tick", "every": 0}}),
                "beat": ("w1",),
            },
            'entry "tick" needs a task name and exactly one of',
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_serializer="pickle")},
            "celery_worker_serializer is pickle: anyone who can publish to the broker could then run code",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_tasks_package={"project": "/nonexistent/acme"})},
            "celery_worker_package: /nonexistent/acme/pyproject.toml is missing on the control node",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_broker="redis", fleet_results="redis", fleet_redis_password="x" * 16)},
            'the inventory group "redis" (fleet_redis_group) must hold exactly one Redis host; it holds 0',
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_broker="redis", fleet_redis_password="x" * 16), "redis": ("r1",)},
            "supported: fleet_broker rabbitmq with fleet_results rpc (the default) or redis",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_results="redis"), "redis": ("r1",)},
            "fleet_redis_password must be set",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_broker="kafka")},
            "value of fleet_broker must be one of: rabbitmq, redis, got: kafka",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_broker_heartbeat="ten")},
            "argument 'fleet_broker_heartbeat' is of type",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_broker_heartbeat=-1)},
            "fleet_broker_heartbeat must be a whole number of seconds, 0 or more",
        ),
        (
            {"fleet": without(VALID_FLEET, "fleet_worker_groups")},
            "missing required arguments: fleet_worker_groups",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_rabbitmq_extra_users=[{"name": "fleet-client", "password": "x" * 16}])},
            "no user of fleet_rabbitmq_extra_users may be named after one of them",
        ),
        (
            {"fleet": dict(VALID_FLEET, fleet_rabbitmq_extra_users=[{"name": "audit"}])},
            "rabbitmq_users: audit must have a non-empty password",
        ),
        (
            {"workers": {"w1": {"fleet_worker_serves": "default"}}},
            "fleet_worker_serves of w1 is default; it must list",
        ),
        (
            {"monitor": ("mq1", "w1"), "fleet": MONITORED_FLEET},
            'The group "monitor" (fleet_monitor_group) holds 2 hosts (mq1, w1)',
        ),
        (
            {
                "monitor": ("mq1",),
                "fleet": dict(MONITORED_FLEET, prometheus_extra_rule_files=["/nonexistent/my-rules.yml"]),
            },
            "do not exist on the control node: /nonexistent/my-rules.yml",
        ),
        (
            {"monitor": ("mq1",), "fleet": dict(MONITORED_FLEET, prometheus_port="ninety")},
            "argument 'prometheus_port' is of type str and we were unable to convert to int",
        ),
        (
            {"monitor": ("mq1",), "fleet": without(MONITORED_FLEET, "fleet_flower_password")},
            "whose Flower needs fleet_flower_password",
        ),
        (
            {"monitor": ("mq1",), "fleet": dict(MONITORED_FLEET, fleet_flower_password="with,a-comma-inside")},
            'a string of at least 12 characters without ","',
        ),
        (
            {"monitor": ("mq1",), "fleet": without(MONITORED_FLEET, "fleet_amqp_monitor_password")},
            "and fleet_amqp_monitor_password, the monitoring identity Flower talks to the broker as",
        ),
    ],
    ids=[
        "password-missing",
        "password-vault-missing",
        "client-password-missing",
        "monitor-password-too-short",
        "own-certificates-incomplete",
        "own-certificates-missing",
        "client-certs-without-tls",
        "signing-with-own-ca",
        "cookie-missing",
        "cookie-too-short",
        "two-brokers",
        "four-brokers",
        "no-workers",
        "route-to-unserved-queue",
        "default-queue-unserved-after-serves",
        "serves-unknown-group",
        "group-without-queues",
        "bad-pool",
        "two-beat-hosts",
        "beat-host-not-a-worker",
        "schedule-without-beat-host",
        "bad-schedule-entry",
        "pickle-without-consent",
        "missing-tasks-package",
        "redis-without-host",
        "redis-broker-with-rpc-results",
        "redis-password-missing",
        "unknown-broker",
        "heartbeat-not-a-number",
        "heartbeat-negative",
        "worker-groups-missing",
        "extra-user-named-after-an-identity",
        "extra-user-without-password",
        "serves-not-a-list",
        "two-monitor-hosts",
        "monitor-rule-file-missing",
        "monitor-port-not-a-number",
        "flower-password-missing",
        "flower-password-with-comma",
        "flower-without-monitor-identity",
    ],
)
def test_bad_inventory_stops_before_any_change(tmp_path, case, expected):
    rc, output = site(inventory(tmp_path, **case))
    assert rc != 0
    assert expected in output, output[-3000:]
    # Nothing was attempted on any host: the broker and worker plays never started.
    assert "PLAY [Set up the RabbitMQ broker]" not in output
    assert "unreachable=1" not in output


def known_facts(tmp_path, hosts_file, facts):
    """Ansible's fact cache (jsonfile) holding ``facts`` ({host: {fact: value}}), put there by set_fact (which needs
    no connection): the preflight reads a cluster's facts from it instead of from the hosts, which these tests
    cannot reach. Returns the environment that uses the cache."""
    environ = {"ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path)}
    playbook = tmp_path / "facts.yml"
    set_facts = {
        "ansible.builtin.set_fact": {
            "cacheable": True,
            **{f"ansible_{name}": f"{{{{ facts[inventory_hostname].{name} }}}}" for name in next(iter(facts.values()))},
        }
    }
    playbook.write_text(yaml.safe_dump([{"hosts": "broker", "gather_facts": False, "tasks": [set_facts]}]))
    rc, output = site(hosts_file, str(playbook), "-e", json.dumps({"facts": facts}), environ=environ)
    assert rc == 0, output[-3000:]
    return environ


CLUSTER = ("mq1", "mq2", "mq3")


def test_a_cluster_of_mixed_debian_releases_stops_before_any_change(tmp_path):
    releases = {"mq1": "bookworm", "mq2": "trixie", "mq3": "bookworm"}
    hosts_file = inventory(tmp_path, brokers=CLUSTER)
    facts = {h: {"distribution_release": r, "hostname": h} for h, r in releases.items()}
    rc, output = site(hosts_file, environ=known_facts(tmp_path, hosts_file, facts))
    assert rc != 0
    assert (
        'The hosts of "broker" run different Debian releases (mq1: bookworm, mq2: trixie, mq3: bookworm)' in output
    ), output[-3000:]
    assert "PLAY [Set up the RabbitMQ broker]" not in output


def test_a_cluster_of_three_passes_the_preflight(tmp_path):
    hosts_file = inventory(tmp_path, brokers=CLUSTER)
    facts = {h: {"distribution_release": "trixie", "hostname": h} for h in CLUSTER}
    rc, output = site(hosts_file, "playbooks/preflight.yml", environ=known_facts(tmp_path, hosts_file, facts))
    assert rc == 0, output[-3000:]
    assert "failed=0" in output


def test_good_inventory_passes_the_preflight(tmp_path):
    rc, output = site(inventory(tmp_path), playbook="playbooks/preflight.yml")
    assert rc == 0, output[-3000:]
    assert "failed=0" in output


def test_a_monitored_fleet_passes_the_preflight(tmp_path):
    rc, output = site(inventory(tmp_path, fleet=MONITORED_FLEET, monitor=("mq1",)), playbook="playbooks/preflight.yml")
    assert rc == 0, output[-3000:]
    assert "failed=0" in output
    assert "Validate the prometheus role's inputs" in output
    assert "Validate the flower role's inputs" in output


def test_example_inventory_passes_the_preflight_once_the_vault_exists(tmp_path):
    """inventory/example is valid as shipped, given the vault file its README describes."""
    example = REPO / "inventory" / "example"
    vault = yaml.safe_load((example / "group_vars" / "all" / "vault.yml.example").read_text())
    extra = tmp_path / "vault.yml"
    extra.write_text(yaml.safe_dump(vault))
    rc, output = site(example / "hosts.yml", "playbooks/preflight.yml", "-e", f"@{extra}")
    assert rc == 0, output[-3000:]


def test_redis_broker_and_results_pass_the_preflight(tmp_path):
    fleet = dict(VALID_FLEET, fleet_broker="redis", fleet_results="redis", fleet_redis_password="p" * 16)
    del fleet["fleet_amqp_password"]  # RabbitMQ is not used: its password is not needed
    rc, output = site(inventory(tmp_path, fleet=fleet, brokers=(), redis=("r1",)), "playbooks/preflight.yml")
    assert rc == 0, output[-3000:]
