"""The Redis broker and result store: running at boot, reachable by workers, no access without a password."""

import pytest
import redis
from conftest import redis_only

pytestmark = redis_only


def test_redis_is_running_and_enabled(broker):
    service = broker.service("redis-server")
    assert service.is_running
    assert service.is_enabled


def test_redis_listens_off_loopback(broker):
    assert broker.socket("tcp://0.0.0.0:6379").is_listening


def test_nobody_gets_in_without_a_password(broker_ip):
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host=broker_ip, socket_timeout=5).ping()


def test_the_default_user_is_off(broker_ip):
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host=broker_ip, username="default", password="", socket_timeout=5).ping()


def test_the_fleet_user_gets_in_with_its_password_only(broker_ip, fleet_password):
    assert redis.Redis(host=broker_ip, username="fleet", password=fleet_password, socket_timeout=5).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host=broker_ip, username="fleet", password=fleet_password + "x", socket_timeout=5).ping()


def test_passwords_are_stored_hashed_in_a_private_acl_file(broker, fleet_password):
    acl = broker.file("/etc/redis/users.acl")
    assert (acl.user, acl.group, acl.mode) == ("root", "redis", 0o640)
    assert "user default off" in acl.content_string
    assert fleet_password.split("/")[0] not in acl.content_string
    assert fleet_password.split("/")[0] not in broker.file("/etc/redis/redis.conf").content_string


def test_queued_tasks_are_not_evicted_and_survive_restarts(broker_ip, fleet_password):
    server = redis.Redis(host=broker_ip, username="fleet", password=fleet_password, socket_timeout=5)
    assert server.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert server.config_get("appendonly") == {"appendonly": "yes"}
