"""The rabbitmq role's filters (roles/rabbitmq/filter_plugins/rabbitmq.py): the firewall's sets, users' checks."""

from rabbitmq import (
    rabbitmq_firewall_sets,
    rabbitmq_host_names,
    rabbitmq_is_address,
    rabbitmq_resolved_names,
    rabbitmq_users_without_password,
)


def test_getent_output_becomes_addresses_per_name():
    results = [
        {"item": "worker1", "rc": 0, "stdout_lines": ["10.89.0.5 STREAM worker1", "10.89.0.5 DGRAM", "fd00::5 STREAM"]},
        {"item": "gone", "rc": 2, "stdout_lines": []},
    ]
    assert rabbitmq_resolved_names(results) == {"worker1": ["10.89.0.5", "fd00::5"]}


def test_sets_split_v4_and_v6_and_resolve_names():
    sets = rabbitmq_firewall_sets(
        {"amqp": ["worker1", "10.0.0.0/24", "10.0.0.0/24"], "management": []},
        {"worker1": ["10.89.0.5", "fd00::5"]},
    )
    assert sets == {
        "amqp": {"v4": ["10.0.0.0/24", "10.89.0.5"], "v6": ["fd00::5"]},
        "management": {"v4": [], "v6": []},
    }


def test_addresses_and_networks_are_not_names():
    assert rabbitmq_is_address("10.0.0.1")
    assert rabbitmq_is_address("10.0.0.0/24")
    assert rabbitmq_is_address("fd00::/64")
    assert not rabbitmq_is_address("worker1")
    assert not rabbitmq_is_address("mq.example.net")


def test_present_users_need_a_password():
    users = [
        {"name": "a", "password": "x"},
        {"name": "b"},
        {"name": "c", "password": ""},
        {"name": "d", "state": "absent"},
    ]
    assert rabbitmq_users_without_password(users) == ["b", "c"]


def test_only_host_names_are_resolved():
    sources = ["worker1", "10.0.0.1", "10.0.0.0/24", "worker1", "fd00::1", "mq.example.net"]
    assert rabbitmq_host_names(sources) == ["worker1", "mq.example.net"]
