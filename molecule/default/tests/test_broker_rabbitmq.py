"""The RabbitMQ broker: running at boot, with its limits and cookie, no guest. Security: test_security.py."""

import pytest
from amqp.exceptions import AccessRefused
from conftest import amqp_url, connect, rabbitmq_only

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
    for vhost in ("/", "fleet"):
        with pytest.raises(AccessRefused):
            connect(amqp_url(broker_ip, "guest", "guest", vhost))


def test_guest_user_is_deleted(broker):
    users = broker.check_output("rabbitmqctl -q list_users")
    assert "guest" not in users.split()
