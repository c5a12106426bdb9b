"""Changing which groups a host serves: the new unit starts, a removed one is stopped and deleted.

Mark `reconfigure`: changes worker1, then puts it back as the scenario has it.
"""

import pytest
from fleettest.scenario import converge, main_pid


def converge_worker1(*extra_args):
    return converge(["worker1"], *extra_args)


@pytest.mark.reconfigure
def test_adding_then_removing_a_group_on_a_host(worker1):
    before = main_pid(worker1, "celery-worker-default")
    assert before > 0

    converge_worker1("-e", '{"fleet_worker_serves": ["default", "io"]}')
    assert worker1.service("celery-worker-io").is_running
    assert worker1.service("celery-worker-io").is_enabled
    # Only the new unit started: the existing one kept its main process.
    assert main_pid(worker1, "celery-worker-default") == before

    converge_worker1()
    assert not worker1.service("celery-worker-io").is_running
    assert not worker1.file("/etc/systemd/system/celery-worker-io.service").exists
    assert worker1.service("celery-worker-default").is_running
    assert main_pid(worker1, "celery-worker-default") == before
