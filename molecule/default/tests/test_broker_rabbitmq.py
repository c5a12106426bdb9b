"""The RabbitMQ broker: running at boot, reachable by workers, locked down (no guest, one vhost per user)."""

import pytest
from amqp.exceptions import AccessRefused, NotAllowed
from conftest import amqp_url, rabbitmq_only
from kombu import Connection

pytestmark = rabbitmq_only


def connect(url):
    with Connection(url, connect_timeout=10) as conn:
        conn.ensure_connection(max_retries=1)
        return True


# --- broker -----------------------------------------------------------------------------------------------------


def test_rabbitmq_is_running_and_enabled(broker):
    service = broker.service("rabbitmq-server")
    assert service.is_running
    assert service.is_enabled


def test_rabbitmq_listens_off_loopback(broker):
    assert broker.socket("tcp://0.0.0.0:5672").is_listening


def test_rabbitmq_open_file_limit_comes_from_the_drop_in(broker):
    assert broker.file("/etc/systemd/system/rabbitmq-server.service.d/celery-fleet.conf").exists
    assert broker.check_output("systemctl show rabbitmq-server -p LimitNOFILE --value") == "65536"


def test_erlang_cookie_is_private(broker):
    cookie = broker.file("/var/lib/rabbitmq/.erlang.cookie")
    assert cookie.user == "rabbitmq"
    assert cookie.mode == 0o400


def test_guest_cannot_authenticate(broker_ip):
    for vhost in ("/", "fleet"):
        with pytest.raises(AccessRefused):
            connect(amqp_url(broker_ip, "guest", "guest", vhost))


def test_guest_user_is_deleted(broker):
    users = broker.check_output("rabbitmqctl -q list_users")
    assert "guest" not in users.split()


def test_fleet_user_authenticates_on_its_vhost_only(broker_ip, fleet_password):
    assert connect(amqp_url(broker_ip, "fleet", fleet_password, "fleet"))
    with pytest.raises(NotAllowed, match="access to vhost '/' refused"):
        connect(amqp_url(broker_ip, "fleet", fleet_password, "/"))


def test_wrong_password_is_refused(broker_ip, fleet_password):
    with pytest.raises(AccessRefused):
        connect(amqp_url(broker_ip, "fleet", fleet_password + "x", "fleet"))
