"""The plain-Celery example against a running fleet: FLEET_ENV_FILE names its client env file (tests/test_lab.py
sets it to the lab's)."""

import os
import subprocess
import sys
from pathlib import Path

import celery_fleet_client
import pytest
from celery import Celery

ENV_FILE = os.environ.get("FLEET_ENV_FILE")
EXAMPLE = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not ENV_FILE, reason="needs a fleet: set FLEET_ENV_FILE")


def test_the_example_sends_fleet_add_by_name_and_prints_the_result():
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "send_add.py"), ENV_FILE, "2", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "5"), done.stderr


def test_an_app_with_only_the_broker_url_is_refused_and_the_library_says_what_to_set():
    """Least privilege, seen from a client: Celery's defaults declare, the broker says 403, check() says why."""
    env = celery_fleet_client.read_env_file(ENV_FILE)
    settings = celery_fleet_client.settings(env)
    bare = Celery("bare-client", set_as_current=False)
    bare.conf.update(
        broker_url=settings["broker_url"],
        broker_use_ssl=settings.get("broker_use_ssl", False),
        broker_login_method=settings.get("broker_login_method", "AMQPLAIN"),
        result_backend=settings["result_backend"],
        broker_connection_retry_on_startup=False,
        broker_connection_timeout=10,
        task_publish_retry=False,
    )
    with pytest.raises(Exception, match="ACCESS_REFUSED"):
        bare.send_task("fleet.add", args=[2, 3])
    with pytest.raises(celery_fleet_client.FleetClientError, match="task_queues is not set"):
        celery_fleet_client.check(bare.conf)
