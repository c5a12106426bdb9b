"""What users rely on: the broker is reachable and locked down, workers run, and tasks flow to the right place."""

import importlib.util

import pytest
from amqp.exceptions import AccessRefused, NotAllowed
from conftest import amqp_url
from kombu import Connection

WORKERS = {
    # host: (units it must run, units it must not have, node names)
    "worker1": (["celery-worker-default"], ["celery-worker-io"], ["default@worker1"]),
    "worker2": (["celery-worker-io"], ["celery-worker-default"], ["io@worker2"]),
}
TIMEOUT = 30


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


# --- workers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_worker_units_are_active_and_enabled(request, name):
    host = request.getfixturevalue(name)
    wanted, unwanted, _ = WORKERS[name]
    for unit in wanted:
        assert host.service(unit).is_running, unit
        assert host.service(unit).is_enabled, unit
    for unit in unwanted:
        assert not host.file(f"/etc/systemd/system/{unit}.service").exists, unit


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_workers_run_unprivileged(request, name):
    host = request.getfixturevalue(name)
    user = host.user("celery")
    assert user.shell == "/usr/sbin/nologin"
    owners = (
        host.check_output("ps -o user= -C celery").split()
        or host.check_output("ps -eo user=,args= | awk '/bin\\/celery .* worker/ {print $1}'").split()
    )
    assert owners and set(owners) == {"celery"}


@pytest.mark.parametrize("name", sorted(WORKERS))
def test_env_file_is_private_and_secrets_stay_in_it(request, name, fleet_password):
    host = request.getfixturevalue(name)
    env = host.file("/etc/celery-fleet/worker.env")
    assert env.mode == 0o600
    assert env.user == "root"
    encoded = fleet_password.split("/")[0]  # the generated part, identical encoded or not
    assert encoded in env.content_string
    for unit in WORKERS[name][0]:
        assert encoded not in host.file(f"/etc/systemd/system/{unit}.service").content_string


# --- tasks ------------------------------------------------------------------------------------------------------


def test_client_has_no_tasks_code():
    assert importlib.util.find_spec("celery_fleet") is None


def test_every_worker_answers_a_ping(client):
    replies = client.control.ping(timeout=5)
    nodes = {node for reply in replies for node in reply}
    assert nodes == {node for _, _, names in WORKERS.values() for node in names}


def test_task_sent_by_name_returns_its_result(client):
    result = client.send_task("fleet.add", args=[2, 3])
    assert result.get(timeout=TIMEOUT) == 5
    assert result.worker == "default@worker1"


def test_default_queue_tasks_run_on_its_group_only(client):
    results = [client.send_task("fleet.whoami") for _ in range(6)]
    answers = [result.get(timeout=TIMEOUT) for result in results]
    assert {answer["hostname"] for answer in answers} == {"worker1"}
    assert {answer["node"] for answer in answers} == {"default@worker1"}
    assert {answer["queue"] for answer in answers} == {"celery"}


def test_routed_tasks_run_on_the_group_serving_their_queue(client):
    # The management API answers 401 without credentials: a real HTTP round trip from worker2 to the broker.
    results = [client.send_task("fleet.fetch_url", args=["http://broker:15672/api/overview"]) for _ in range(3)]
    assert [result.get(timeout=TIMEOUT) for result in results] == [401, 401, 401]
    assert {result.worker for result in results} == {"io@worker2"}


def test_a_failing_task_reports_its_error(client):
    result = client.send_task("fleet.fetch_url", args=["file:///etc/passwd"])
    with pytest.raises(Exception, match="http"):
        result.get(timeout=TIMEOUT)
    assert result.state == "FAILURE"
