"""The fleet's wiring filters (plugins/filter/fleet_wiring.py): URLs, TLS names, permissions, worker instances."""

import re

import pytest
from fleet_wiring import (
    FilterModule,
    fleet_broker_certificates,
    fleet_client_env_files,
    fleet_env_files,
    fleet_failover_url,
    fleet_host_address,
    fleet_host_addresses,
    fleet_host_facts,
    fleet_host_values,
    fleet_identities,
    fleet_longest_time_limit,
    fleet_mixed_facts,
    fleet_named_addresses,
    fleet_permissions,
    fleet_rabbitmq_nodes,
    fleet_routed_queues,
    fleet_served_queues,
    fleet_serves_by_host,
    fleet_subject_alt_names,
    fleet_task_queues,
    fleet_tls_servers,
    fleet_unique_names,
    fleet_url,
    fleet_worker_instances,
)

GROUPS = {"default": {"queues": ["celery"], "concurrency": 2}, "io": {"queues": ["io"], "pool": "threads"}}
HOSTVARS = {
    "w1": {"fleet_address": "10.0.0.7", "ansible_host": "192.0.2.1", "fleet_worker_serves": ["default"]},
    "w2": {"ansible_host": "w2.example.net"},
    "w3": {},
}


def test_every_public_function_is_a_filter():
    names = FilterModule().filters()
    assert "fleet_url" in names
    assert "FilterModule" not in names
    assert all(name.startswith("fleet_") for name in names)


def test_a_host_address_prefers_the_fleet_variable_then_ansible_host_then_the_name():
    assert fleet_host_address("w1", HOSTVARS, "fleet_address") == "10.0.0.7"
    assert fleet_host_address("w2", HOSTVARS, "fleet_address") == "w2.example.net"
    assert fleet_host_address("w3", HOSTVARS, "fleet_address") == "w3"
    assert fleet_host_address("", HOSTVARS, "fleet_address") == ""
    assert fleet_host_addresses(["w1", "w2", "w3"], HOSTVARS, "fleet_address") == ["10.0.0.7", "w2.example.net", "w3"]


@pytest.mark.parametrize(
    ("args", "url"),
    [
        (("amqps", "mq", 5671, "fleet", "pw", "fleet"), "amqps://fleet:pw@mq:5671/fleet"),
        # Every character but letters, digits and _.-~ is percent-encoded, "/" and "@" and ":" included.
        (("amqp", "mq", 5672, "a/b@c", "p:w/d%", "/"), "amqp://a%2Fb%40c:p%3Aw%2Fd%25@mq:5672/%2F"),
        (("amqps", "mq", 5671, "fleet", None, "v h"), "amqps://fleet@mq:5671/v%20h"),  # mutual TLS: no password
        (("rediss", "r1", 6379, "fleet", "pw", "0"), "rediss://fleet:pw@r1:6379/0"),
        (("redis", "r1", 6379, None, None, "1"), "redis://r1:6379/1"),
    ],
)
def test_urls_are_percent_encoded(args, url):
    assert fleet_url(*args) == url


def test_an_encoded_url_parses_back_to_its_parts():
    from kombu.utils.url import url_to_parts

    parts = url_to_parts(fleet_url("amqps", "mq", 5671, "us/er", "p@ss:w/rd", "my/vhost"))
    assert (parts.username, parts.password, parts.hostname, parts.port, parts.path) == (
        "us/er",
        "p@ss:w/rd",
        "mq",
        5671,
        "my/vhost",
    )


def test_subject_alt_names_tell_addresses_from_names():
    assert fleet_subject_alt_names(["broker", "10.89.0.5", "::1", "mq.example.net"]) == [
        "DNS:broker",
        "IP:10.89.0.5",
        "IP:::1",
        "DNS:mq.example.net",
    ]


def test_names_are_trimmed_and_unique_in_order():
    assert fleet_unique_names(["mq", " mq ", "", "10.0.0.1", "mq"]) == ["mq", "10.0.0.1"]


def test_only_servers_with_names_get_certificates():
    servers = fleet_tls_servers({"broker": ["mq", "10.0.0.1"], "redis": []})
    assert servers == [
        {"name": "broker", "names": ["mq", "10.0.0.1"], "sans": ["DNS:mq", "IP:10.0.0.1"], "usages": ["serverAuth"]}
    ]


def test_cluster_nodes_certificates_also_authenticate_them_as_clients():
    servers = fleet_tls_servers({"broker-b1": ["b1"], "redis": ["r"]}, dual_use=["broker-b1"])
    assert [server["usages"] for server in servers] == [["serverAuth", "clientAuth"], ["serverAuth"]]


def test_identities_one_per_worker_host_then_client_and_monitor():
    identities = fleet_identities(["w1", "w2"], "fleet", "fleet-client", "fleet-monitor")
    assert [i["name"] for i in identities] == ["worker-w1", "worker-w2", "client", "monitor"]
    assert [i["common_name"] for i in identities] == ["fleet", "fleet", "fleet-client", "fleet-monitor"]
    assert identities[0]["unit"] == "w1"


def test_a_host_serves_its_groups_or_every_group():
    serves = fleet_serves_by_host(["w1", "w2"], HOSTVARS, GROUPS)
    assert serves == {"w1": ["default"], "w2": ["default", "io"]}


def test_queues_routed_served_and_all():
    routes = {"fleet.fetch_*": "io", "report.*": {"queue": "reports"}, "x": "celery"}
    assert fleet_routed_queues("celery", routes) == ["celery", "io", "reports"]
    assert fleet_served_queues({"w1": ["default"], "w2": ["io", "unknown"]}, GROUPS) == ["celery", "io"]
    assert fleet_task_queues("jobs", GROUPS, routes) == ["jobs", "celery", "io", "reports"]


def test_worker_instances_of_a_host_carry_their_group_settings():
    instances = fleet_worker_instances(["io", "unknown", "default"], GROUPS)
    assert instances == [
        {"name": "io", "queues": ["io"], "pool": "threads"},
        {"name": "default", "queues": ["celery"], "concurrency": 2},
    ]


def test_the_longest_time_limit_counts_the_role_default():
    assert fleet_longest_time_limit(GROUPS) == 300
    assert fleet_longest_time_limit({"a": {"time_limit": 60}, "b": {"time_limit": "900"}}) == 900


def _matches(pattern, name):
    return re.fullmatch(pattern, name) is not None


UUID = "0f3c6a4e-8b1d-4c2a-9e7f-1234567890ab"


def test_workers_may_use_task_queues_control_and_their_result_queue_only():
    worker = fleet_permissions(["celery", "io.v2"])["worker"]
    for name in ("celery", "io.v2", "celery.pidbox", "w1@host.celery.pidbox", "celeryev.abc", UUID):
        assert _matches(worker["configure_priv"], name), name
    for name in ("iox", "io", "other", "amq.default", "celery_delayed_3"):
        assert not _matches(worker["configure_priv"], name), name  # "." is escaped: io.v2 is not io
    assert _matches(worker["write_priv"], "amq.default")


def test_delayed_delivery_entities_only_with_quorum_queues():
    assert _matches(fleet_permissions(["celery"], True)["worker"]["configure_priv"], "celery_delayed_27")
    assert _matches(fleet_permissions(["celery"], True)["worker"]["write_priv"], "celery_delayed_delivery")
    assert not _matches(fleet_permissions(["celery"], False)["worker"]["write_priv"], "celery_delayed_delivery")
    # Clients publish a countdown task to the first delay level only, and only with quorum queues.
    client = fleet_permissions(["celery"], True)["client"]
    assert _matches(client["write_priv"], "celery_delayed_27")
    assert not _matches(client["write_priv"], "celery_delayed_26")
    assert not _matches(client["configure_priv"], "celery_delayed_27")
    assert not _matches(fleet_permissions(["celery"], False)["client"]["write_priv"], "celery_delayed_27")


def test_clients_publish_tasks_and_read_their_results_only():
    client = fleet_permissions(["celery", "io"])["client"]
    assert _matches(client["write_priv"], "io")
    assert not _matches(client["write_priv"], "celery.pidbox")  # no remote control
    assert _matches(client["configure_priv"], UUID)
    assert not _matches(client["configure_priv"], "celery")  # cannot declare, purge or delete a task queue
    assert not _matches(client["read_priv"], "celery")  # nor consume from one


def test_monitoring_has_control_and_events_only():
    monitor = fleet_permissions(["celery"])["monitor"]
    assert _matches(monitor["read_priv"], "celeryev.0f3c")
    assert not _matches(monitor["read_priv"], "celery")
    assert not _matches(monitor["write_priv"], "celery")


def test_a_host_address_may_try_several_variables_in_order():
    hostvars = {"b1": {"fleet_client_broker_address": "127.0.0.1", "fleet_broker_address": "10.0.0.1"}, "b2": {}}
    addresses = fleet_host_addresses(["b1", "b2"], hostvars, "fleet_client_broker_address", "fleet_broker_address")
    assert addresses == ["127.0.0.1", "b2"]
    assert fleet_host_values(["b1", "b2"], {"b1": {"port": 5681}}, "port", 5671) == [5681, 5671]


def test_a_cluster_url_lists_every_node_and_each_port():
    url = fleet_failover_url("amqps", ["b1", "b2", "b3"], 5671, "fleet", "p/w", "fleet")
    assert (
        url == "amqps://fleet:p%2Fw@b1:5671/fleet;amqps://fleet:p%2Fw@b2:5671/fleet;amqps://fleet:p%2Fw@b3:5671/fleet"
    )
    assert fleet_failover_url("amqp", ["h", "h"], [5672, 5673], None, None, "v") == "amqp://h:5672/v;amqp://h:5673/v"
    assert fleet_failover_url("amqps", ["one"], 5671, "u", None, "v") == fleet_url("amqps", "one", 5671, "u", None, "v")


def test_node_names_come_from_the_facts_then_the_inventory_name():
    hostvars = {
        "b1.example.net": {"ansible_facts": {"hostname": "mq-a"}},
        "b2.example.net": {},
        "b3": {"fleet_rabbitmq_node": "rabbit@custom"},
    }
    assert fleet_rabbitmq_nodes(list(hostvars), hostvars) == ["rabbit@mq-a", "rabbit@b2", "rabbit@custom"]


def test_one_broker_has_one_certificate_and_each_cluster_node_its_own():
    hostvars = {
        "b1": {"ansible_host": "10.0.0.1", "fleet_tls_broker_names": ["mq.example.net"], "ansible_facts": {}},
        "b2": {"fleet_client_broker_address": "127.0.0.1", "ansible_facts": {"hostname": "node2"}},
    }
    assert fleet_broker_certificates(["b1"], hostvars, False) == {"broker": ["b1", "10.0.0.1", "mq.example.net"]}
    assert fleet_broker_certificates(["b1", "b2"], hostvars, True) == {
        "broker-b1": ["b1", "10.0.0.1", "mq.example.net"],
        "broker-b2": ["b2", "127.0.0.1", "node2"],
    }


def test_a_cluster_of_mixed_releases_names_each_host_and_its_release():
    hostvars = {
        "mq1": {"ansible_facts": {"distribution_release": "bookworm"}},
        "mq2": {"ansible_facts": {"distribution_release": "trixie"}},
        "mq3": {},
    }
    facts = fleet_host_facts(["mq2", "mq1", "mq3"], hostvars, "distribution_release")
    assert facts == {"mq2": "trixie", "mq1": "bookworm", "mq3": "unknown"}
    assert fleet_mixed_facts(facts) == ["mq1: bookworm", "mq2: trixie", "mq3: unknown"]
    same = fleet_host_facts(["mq1"], hostvars, "distribution_release") | {"mq4": "bookworm"}
    assert fleet_mixed_facts(same) == []


def test_named_addresses_keep_the_inventory_name_beside_the_address():
    assert fleet_named_addresses(["w1", "w2", "w3"], HOSTVARS, "fleet_address") == [
        {"name": "w1", "address": "10.0.0.7"},
        {"name": "w2", "address": "w2.example.net"},
        {"name": "w3", "address": "w3"},
    ]


def test_env_files_name_the_ca_the_identity_and_the_trusted_signers():
    files = fleet_env_files("/pki/ca.crt", "/pki/identities", "monitor", ["worker-w1", "client"])
    assert files == [
        {"src": "/pki/ca.crt", "dest": "broker-ca.pem", "mode": "0644"},
        {"src": "/pki/identities/monitor.crt", "dest": "monitor.crt", "mode": "0644"},
        {"src": "/pki/identities/monitor.key", "dest": "monitor.key", "mode": "0640"},
        {"src": "/pki/identities/worker-w1.crt", "dest": "trusted-signers/worker-w1.crt", "mode": "0644"},
        {"src": "/pki/identities/client.crt", "dest": "trusted-signers/client.crt", "mode": "0644"},
    ]
    assert fleet_env_files("", "/pki/identities") == []  # no TLS, no identity, no signing


def test_client_env_files_get_their_files_beside_them_once_each_with_private_keys():
    env_files = [
        {"role": "client", "file": "/home/me/fleet/client.env"},
        {"role": "monitor", "file": "/home/me/fleet/monitor.env"},
    ]
    files = fleet_client_env_files(env_files, "/pki/ca.crt", "/pki/identities", True, ["client"])
    assert files == [
        {"src": "/pki/ca.crt", "dest": "/home/me/fleet/broker-ca.pem", "mode": "0644"},
        {"src": "/pki/identities/client.crt", "dest": "/home/me/fleet/client.crt", "mode": "0644"},
        {"src": "/pki/identities/client.key", "dest": "/home/me/fleet/client.key", "mode": "0600"},
        {"src": "/pki/identities/client.crt", "dest": "/home/me/fleet/trusted-signers/client.crt", "mode": "0644"},
        {"src": "/pki/identities/monitor.crt", "dest": "/home/me/fleet/monitor.crt", "mode": "0644"},
        {"src": "/pki/identities/monitor.key", "dest": "/home/me/fleet/monitor.key", "mode": "0600"},
    ]
    # Without TLS identities: the CA only.
    plain = fleet_client_env_files([{"role": "client", "file": "/srv/client.env"}], "/pki/ca.crt", "/pki/identities")
    assert plain == [{"src": "/pki/ca.crt", "dest": "/srv/broker-ca.pem", "mode": "0644"}]
