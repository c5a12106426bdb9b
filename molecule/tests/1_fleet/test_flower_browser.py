"""Flower as an operator sees it, in a real browser (Debian's headless Chromium): refused without the login; with it,
every worker node online, a task sent by name with its result, and a worker stopped on purpose shown offline."""

import pytest
from fleettest.browser import chromium, forget_login, send_login, status_of
from fleettest.faults import container_ip
from fleettest.scenario import CLUSTER, EPHEMERAL, MONITOR, WORKER_NODES, generated_password, monitoring_only
from fleettest.wait import wait_for

pytestmark = [
    monitoring_only,
    pytest.mark.skipif(CLUSTER, reason="proved on one broker (the default scenario): the cluster lane is the longest"),
]

# The shared config's worker nodes: worker1 serves the default group, worker2 the io group.


@pytest.fixture(scope="module")
def flower_url():
    return f"https://{container_ip(MONITOR)}:5555"


@pytest.fixture(scope="module")
def browser():
    # The browser accepts Flower's certificate (from the fleet's CA, which this machine does not trust) and no other.
    with chromium(trusted_certificates=[EPHEMERAL / "pki" / "flower.crt"]) as driver:
        yield driver


@pytest.fixture
def logged_in(browser):
    send_login(browser, "operator", generated_password("fleet_flower_password"))
    yield browser
    forget_login(browser)


def _worker_states(browser):
    """{worker node: "Online" | "Offline"} as the workers page's table shows them."""
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#workers-table tbody tr'))"
        ".map(row => Array.from(row.cells).map(cell => cell.textContent.replace(/\\s+/g, '')));"
    )
    states = {}
    for cells in rows:
        for node in WORKER_NODES:
            if any(node in cell for cell in cells):
                states[node] = next((cell for cell in cells if cell in ("Online", "Offline")), " | ".join(cells))
    return states


def test_without_the_login_flower_answers_401_and_shows_no_worker(browser, flower_url):
    assert status_of(browser, f"{flower_url}/api/workers") == 401
    assert status_of(browser, f"{flower_url}/workers") == 401
    page = browser.page_source
    assert not any(node in page for node in WORKER_NODES)


def test_the_workers_page_lists_every_worker_node_online(logged_in, flower_url):
    logged_in.get(f"{flower_url}/workers")
    wait_for(
        lambda: _worker_states(logged_in) == dict.fromkeys(WORKER_NODES, "Online"),
        timeout=30,
        what=lambda: f"every worker node online on the page: {_worker_states(logged_in)}",
    )


def test_a_task_sent_by_name_appears_on_the_tasks_pages_with_its_result(logged_in, flower_url, client):
    task_id = client.send_task("fleet.add", args=[19, 23]).id
    assert client.AsyncResult(task_id).get(timeout=30) == 42
    logged_in.get(f"{flower_url}/tasks")
    wait_for(lambda: task_id in logged_in.page_source, timeout=30, what="the task in the tasks page's table")
    logged_in.get(f"{flower_url}/task/{task_id}")
    text = logged_in.find_element("id", "task-page").text
    assert "fleet.add" in text
    assert "SUCCESS" in text
    assert "42" in text.split("Result", 1)[1]


def test_a_worker_stopped_on_purpose_shows_offline_and_online_again(logged_in, flower_url, worker2):
    logged_in.get(f"{flower_url}/workers")
    wait_for(lambda: _worker_states(logged_in).get("io@worker2") == "Online", timeout=30, what="io@worker2 online")
    worker2.check_output("systemctl stop celery-worker-io.service")
    try:
        # A warm shutdown tells Flower at once; a node that vanishes is marked offline when its heartbeats stop.
        # The page refreshes its table by itself (auto_refresh).
        wait_for(
            lambda: _worker_states(logged_in).get("io@worker2") == "Offline",
            timeout=60,
            what=lambda: f"io@worker2 offline on the page: {_worker_states(logged_in)}",
        )
        assert _worker_states(logged_in)["default@worker1"] == "Online"
    finally:
        worker2.check_output("systemctl start celery-worker-io.service")
    wait_for(
        lambda: _worker_states(logged_in).get("io@worker2") == "Online",
        timeout=60,
        what=lambda: f"io@worker2 online again on the page: {_worker_states(logged_in)}",
    )
