"""The Redis broker and result store: running at boot, reachable by workers, no access without a password."""

import pytest
import redis
from fleettest.clients import make_ca, redis_client
from fleettest.scenario import redis_only

pytestmark = redis_only


def test_redis_is_running_and_enabled(broker):
    service = broker.service("redis-server")
    assert service.is_running
    assert service.is_enabled


def test_redis_listens_off_loopback(broker):
    assert broker.socket("tcp://0.0.0.0:6379").is_listening


def test_nobody_gets_in_without_a_password(broker_ip):
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis_client(broker_ip).ping()


def test_the_default_user_is_off(broker_ip):
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis_client(broker_ip, username="default", password="").ping()


def test_the_fleet_user_gets_in_with_its_password_only(broker_ip, fleet_password):
    assert redis_client(broker_ip, username="fleet", password=fleet_password).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis_client(broker_ip, username="fleet", password=fleet_password + "x").ping()


def test_passwords_are_stored_hashed_in_a_private_acl_file(broker, fleet_password):
    acl = broker.file("/etc/redis/users.acl")
    assert (acl.user, acl.group, acl.mode) == ("root", "redis", 0o640)
    assert "user default off" in acl.content_string
    assert fleet_password.split("/")[0] not in acl.content_string
    assert fleet_password.split("/")[0] not in broker.file("/etc/redis/redis.conf").content_string


def test_queued_tasks_are_not_evicted_and_survive_restarts(broker_ip, fleet_password):
    server = redis_client(broker_ip, username="fleet", password=fleet_password)
    assert server.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert server.config_get("appendonly") == {"appendonly": "yes"}


def test_redis_speaks_tls_only_and_the_client_verifies_it(broker_ip, fleet_password, tmp_path):
    with pytest.raises(redis.exceptions.ConnectionError):  # plain TCP: the server expects a TLS handshake
        redis.Redis(host=broker_ip, username="fleet", password=fleet_password, socket_timeout=5).ping()
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        redis_client(broker_ip, username="fleet", password=fleet_password, ssl_ca_certs=str(make_ca(tmp_path))).ping()
