"""The rabbitmq role's filters (roles/rabbitmq/filter_plugins/rabbitmq.py): the firewall's sets, users' checks,
and what the broker's users lack against the inventory."""

import base64
import hashlib

from rabbitmq import (
    rabbitmq_access_changes,
    rabbitmq_firewall_sets,
    rabbitmq_host_names,
    rabbitmq_is_address,
    rabbitmq_password_hash,
    rabbitmq_password_matches,
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


# A hash as RabbitMQ 3.10 exported it for the password "s3cret/@:%" (rabbitmqctl add_user, default sha256): the
# salt is its first 4 bytes.
SALT = bytes.fromhex("908c6f1e")
EXPORTED = base64.b64encode(SALT + hashlib.sha256(SALT + b"s3cret/@:%").digest()).decode()
WORKER_PERMISSION = {"vhost": "fleet", "configure_priv": "^celery", "write_priv": "^celery", "read_priv": "^celery"}


def definitions(users=(), permissions=()):
    return {"rabbit_version": "3.10.8", "users": list(users), "permissions": list(permissions), "vhosts": []}


def exported_user(name, password_hash=EXPORTED, tags=(), hashing="rabbit_password_hashing_sha256"):
    tags = tags if isinstance(tags, str) else list(tags)
    return {"name": name, "password_hash": password_hash, "hashing_algorithm": hashing, "tags": tags, "limits": {}}


def exported_permission(user, vhost="fleet", regex="^celery"):
    return {"user": user, "vhost": vhost, "configure": regex, "write": regex, "read": regex}


def wanted(name="fleet", password="s3cret/@:%", tags=(), permissions=(WORKER_PERMISSION,), state="present"):  # noqa: S107
    return {"name": name, "password": password, "tags": list(tags), "permissions": list(permissions), "state": state}


def test_a_password_matches_the_hash_rabbitmq_made_of_it_and_no_other():
    assert rabbitmq_password_matches("s3cret/@:%", EXPORTED)
    assert not rabbitmq_password_matches("s3cret/@:&", EXPORTED)
    assert not rabbitmq_password_matches("", EXPORTED)
    assert rabbitmq_password_matches(None, "")
    assert not rabbitmq_password_matches("s3cret", "", "rabbit_password_hashing_sha256")
    assert not rabbitmq_password_matches("s3cret/@:%", EXPORTED, "some_future_hashing")


def test_a_new_hash_is_freshly_salted_and_verifies():
    first, second = rabbitmq_password_hash("pw"), rabbitmq_password_hash("pw")
    assert first != second
    assert rabbitmq_password_matches("pw", first) and rabbitmq_password_matches("pw", second)
    sha512 = rabbitmq_password_hash("pw", "rabbit_password_hashing_sha512")
    assert len(base64.b64decode(sha512)) == 4 + 64
    assert rabbitmq_password_matches("pw", sha512, "rabbit_password_hashing_sha512")
    assert rabbitmq_password_hash(None) == ""


def test_a_broker_that_has_what_the_inventory_says_needs_nothing():
    current = definitions([exported_user("fleet")], [exported_permission("fleet")])
    assert rabbitmq_access_changes([wanted()], current) == {
        "definitions": {"users": [], "permissions": []},
        "permissions_to_clear": [],
        "users_to_delete": [],
    }


def test_a_fresh_broker_gets_every_user_and_loses_guest():
    current = definitions([exported_user("guest", tags=["administrator"])], [exported_permission("guest", "/", ".*")])
    monitor = wanted("fleet-monitor", "m0n", ["monitoring"], [{"vhost": "fleet", "read_priv": "^$"}])
    changes = rabbitmq_access_changes([wanted(), monitor], current)
    assert changes["users_to_delete"] == ["guest"]
    assert [user["name"] for user in changes["definitions"]["users"]] == ["fleet", "fleet-monitor"]
    fleet, monitor_user = changes["definitions"]["users"]
    assert rabbitmq_password_matches("s3cret/@:%", fleet["password_hash"])
    assert fleet["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert monitor_user["tags"] == ["monitoring"]
    # An omitted regex grants nothing ("^$"), as community.rabbitmq.rabbitmq_user has it.
    assert changes["definitions"]["permissions"] == [
        exported_permission("fleet"),
        {"user": "fleet-monitor", "vhost": "fleet", "configure": "^$", "write": "^$", "read": "^$"},
    ]
    assert changes["permissions_to_clear"] == []


def test_a_changed_password_is_imported_with_the_hashing_the_user_has():
    sha512 = "rabbit_password_hashing_sha512"
    old = exported_user("fleet", rabbitmq_password_hash("old", sha512), hashing=sha512)
    current = definitions([old], [exported_permission("fleet")])
    changes = rabbitmq_access_changes([wanted(password="new")], current)
    (user,) = changes["definitions"]["users"]
    assert user["hashing_algorithm"] == sha512
    assert rabbitmq_password_matches("new", user["password_hash"], sha512)
    assert changes["definitions"]["permissions"] == []


def test_changed_tags_are_imported_whatever_their_order_or_format():
    current = definitions([exported_user("fleet", tags="monitoring,management")], [exported_permission("fleet")])
    assert rabbitmq_access_changes([wanted(tags=["management", "monitoring"])], current)["definitions"]["users"] == []
    changes = rabbitmq_access_changes([wanted(tags=["monitoring"])], current)
    assert [user["tags"] for user in changes["definitions"]["users"]] == [["monitoring"]]


def test_a_changed_permission_is_imported_and_an_unlisted_vhost_is_cleared():
    current = definitions(
        [exported_user("fleet")], [exported_permission("fleet", regex="^old"), exported_permission("fleet", "/")]
    )
    changes = rabbitmq_access_changes([wanted()], current)
    assert changes["definitions"] == {"users": [], "permissions": [exported_permission("fleet")]}
    assert changes["permissions_to_clear"] == [{"user": "fleet", "vhost": "/"}]


def test_an_absent_user_is_deleted_only_when_the_broker_has_it():
    current = definitions([exported_user("fleet"), exported_user("old")], [exported_permission("fleet")])
    users = [wanted(), wanted("old", state="absent"), wanted("never", state="absent")]
    changes = rabbitmq_access_changes(users, current)
    assert changes["users_to_delete"] == ["old"]
    assert changes["definitions"] == {"users": [], "permissions": []}
