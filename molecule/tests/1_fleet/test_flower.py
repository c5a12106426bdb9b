"""Flower on the monitor host: served over HTTPS with the fleet's CA behind its login (401 without it), read-only,
showing every worker node and the tasks they run; its unauthenticated /metrics and /healthcheck stay on loopback,
where Prometheus scrapes them."""

import base64
import json
import shlex
import ssl
import urllib.error
import urllib.request

import pytest
import testinfra
from fleettest.faults import container_ip
from fleettest.sandbox import OK_EXPOSURE, exposure
from fleettest.scenario import CA_CERT, MONITOR, WORKER_NODES, generated_password, monitoring_only
from fleettest.wait import wait_for

pytestmark = monitoring_only

# The shared config's worker nodes: worker1 serves the default group, worker2 the io group.
_CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()"


@pytest.fixture(scope="module")
def monitor_host():
    return testinfra.get_host(f"podman://{MONITOR}")


@pytest.fixture(scope="module")
def flower_url():
    """Flower's HTTPS address as the operator reaches it: the monitor host's address, port 5555."""
    return f"https://{container_ip(MONITOR)}:5555"


@pytest.fixture(scope="module")
def login():
    return ("operator", generated_password("fleet_flower_password"))


def _request(url, login=None, method="GET"):
    """(status, body) of an HTTPS request that verifies Flower's certificate with the fleet's CA."""
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)  # noqa: S310
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    context = ssl.create_default_context(cafile=str(CA_CERT))
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as response:  # noqa: S310 (https only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _online(flower_url, login):
    status, body = _request(f"{flower_url}/api/workers?status=true", login)
    assert status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("path", ["/", "/workers", "/tasks", "/api/workers", "/api/tasks"])
def test_flower_refuses_whoever_has_no_login(flower_url, login, path):
    for credentials in (None, ("operator", "not-the-password"), ("admin", login[1])):
        status, body = _request(flower_url + path, credentials)
        assert status == 401, (credentials and credentials[0], status)
        assert not any(node in body for node in WORKER_NODES)


def test_flower_lists_every_worker_node_online(flower_url, login):
    wait_for(
        lambda: _online(flower_url, login) == dict.fromkeys(WORKER_NODES, True),
        timeout=60,
        what=lambda: f"every worker node online: {_online(flower_url, login)}",
    )


def test_a_task_sent_by_name_shows_in_flower_with_its_result(flower_url, login, client):
    task_id = client.send_task("fleet.add", args=[20, 22]).id
    assert client.AsyncResult(task_id).get(timeout=30) == 42

    def info():
        status, body = _request(f"{flower_url}/api/task/info/{task_id}", login)
        return json.loads(body) if status == 200 else {}

    # Flower learns of the task from the workers' task events.
    wait_for(lambda: info().get("state") == "SUCCESS", timeout=30, what=lambda: f"the task in Flower: {info()}")
    assert info()["name"] == "fleet.add"
    assert info()["result"] == "42"
    assert info()["worker"] == "default@worker1"


def test_flower_is_read_only(flower_url, login):
    # A harmless command Flower would pass on to the workers were it not read-only.
    status, body = _request(
        f"{flower_url}/api/task/rate-limit/fleet.add?workername=default@worker1&ratelimit=100/m", login, method="POST"
    )
    assert status == 403, body


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "//metrics", "/healthcheck"])
def test_flowers_unauthenticated_pages_are_not_served_over_https(flower_url, login, path):
    for credentials in (None, login):
        assert _request(flower_url + path, credentials)[0] == 404


def test_flower_listens_on_loopback_and_nginx_on_its_https_port_only(monitor_host, worker1):
    listeners = monitor_host.socket.get_listening_sockets()
    assert [s for s in listeners if s.endswith(":5556")] == ["tcp://127.0.0.1:5556"]
    assert [s for s in listeners if s.endswith(":5555")] == ["tcp://0.0.0.0:5555"]
    assert not [s for s in listeners if s.endswith(":80")]  # Debian's default site is gone
    result = worker1.run(f"python3 -c {shlex.quote(_CONNECT)} {MONITOR} 5556")
    assert result.rc != 0 and "ConnectionRefusedError" in result.stderr


def test_flowers_metrics_answer_on_the_monitor_hosts_loopback(monitor_host):
    """Where Prometheus scrapes them (job flower; test_monitoring.py sees the target up)."""
    code = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:5556/metrics').read().decode())"
    metrics = monitor_host.check_output("python3 -c %s", code)
    assert 'flower_worker_online{worker="default@worker1"} 1.0' in metrics


@pytest.mark.parametrize("unit", ["flower", "nginx"])
def test_flower_and_nginx_are_sandboxed_to_an_ok_exposure(monitor_host, unit):
    score, report = exposure(monitor_host, unit)
    assert score <= OK_EXPOSURE, report
