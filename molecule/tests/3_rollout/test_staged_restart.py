"""A broker change written without its restart is applied by the next plain run (docs/reliability.md).

Mark `resume` (the default scenario only). `--skip-tags celery_fleet_restart` writes configuration and restarts
nothing: the state that a run interrupted between RabbitMQ's configuration and its restart leaves. The next plain
run must restart the node onto it, proved by the running node's own setting. Runs last in 3_rollout, in the default
scenario only, which ends there (the broker keeps the changed setting). Both runs are narrowed to RabbitMQ's
configuration (`--tags rabbitmq_config`: the preflight, the PKI and the broker's users, most of a run's time, are
not what this is about); test_resume.py proves plain re-runs of the whole site.yml.
"""

import re

import pytest
from fleettest.scenario import BROKER_SERVICE, converge, main_pid, rabbitmq_only

pytestmark = [pytest.mark.resume, rabbitmq_only]


def live_consumer_timeout(broker):
    return broker.check_output("rabbitmqctl eval 'application:get_env(rabbit, consumer_timeout).'").strip()


def test_a_broker_change_staged_without_its_restart_is_applied_by_the_next_run(broker):
    before_pid, before = main_pid(broker, BROKER_SERVICE), live_consumer_timeout(broker)
    assert before.startswith("{ok,") and before != "{ok,1801000}", before
    change = ("-e", "fleet_consumer_timeout=1801")

    converge(["broker"], *change, "--tags", "rabbitmq_config", "--skip-tags", "celery_fleet_restart")
    assert "consumer_timeout = 1801000" in broker.file("/etc/rabbitmq/rabbitmq.conf").content_string
    assert main_pid(broker, BROKER_SERVICE) == before_pid
    assert live_consumer_timeout(broker) == before

    # The same command without the skip: nothing changes on disk, and the node restarts onto what is there.
    output = converge(["broker"], *change, "--tags", "rabbitmq_config")
    assert main_pid(broker, BROKER_SERVICE) not in (0, before_pid)
    assert live_consumer_timeout(broker) == "{ok,1801000}"
    # Its one change is the restart.
    assert re.search(r"^broker\s+: ok=\d+\s+changed=1 ", output, re.M), output[-2000:]
