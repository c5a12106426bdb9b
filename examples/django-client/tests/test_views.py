"""The example's views against a running fleet: FLEET_ENV_FILE names its client env file (tests/test_lab.py sets it
to the lab's). The view enqueues fleet.add by name; the fleet's workers run it; the other view reads the result.

With the rpc:// result backend, only the process that sent a task reads its result: the test client runs the views
in this process, as one Django process would.
"""

import os
import time

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("FLEET_ENV_FILE"), reason="needs a fleet: set FLEET_ENV_FILE")


@pytest.fixture(scope="module")
def client():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetsite.settings")
    import django
    from django.test import Client

    django.setup()
    return Client()


def test_a_view_enqueues_fleet_add_and_another_reads_its_result(client):
    response = client.post("/add", {"x": 2, "y": 3})
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    deadline = time.monotonic() + 30
    body = client.get(f"/tasks/{task_id}").json()
    while body["state"] != "SUCCESS" and time.monotonic() < deadline:
        assert body["state"] in ("PENDING", "STARTED", "RETRY"), body
        time.sleep(0.5)
        body = client.get(f"/tasks/{task_id}").json()
    assert body == {"task_id": task_id, "state": "SUCCESS", "result": 5}


def test_bad_input_is_refused_before_anything_is_sent(client):
    assert client.post("/add", {"x": "two", "y": 3}).status_code == 400
    assert client.get("/add").status_code == 405
