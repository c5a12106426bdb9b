"""Quorum queues (fleet_queue_type: quorum): RabbitMQ's replicated queue type, on Debian 13's RabbitMQ 4.

Mark `switches`, on a RabbitMQ fleet (the strict scenario selects it; 4_switches runs last). An existing queue
keeps its type, so the switch goes as docs/reliability.md tells users: stop the workers, delete the task queues,
run site.yml with fleet_queue_type: quorum (which also deploys app/ again, after test_rollout.py's package). Then
the workers declare quorum queues, and tasks, countdown tasks and remote control work through them.
"""

import json

import pytest
from fleettest.scenario import converge, rabbitmq_only

QUEUES = ("celery", "io")  # the fleet's task queues (the base config's worker groups)
# The units that consume or publish to them, stopped before their queues are deleted.
STOPPED_FIRST = {"worker1": ["celery-worker-default"], "worker2": ["celery-worker-io", "celery-beat"]}

pytestmark = [rabbitmq_only, pytest.mark.switches]


def queue_types(broker):
    listing = json.loads(broker.check_output("rabbitmqctl -q list_queues -p fleet name type --formatter json"))
    return {queue["name"]: queue["type"] for queue in listing}


def test_the_task_queues_switch_to_quorum_and_tasks_flow(broker, worker1, worker2, client, monitor):
    assert {queue: queue_types(broker).get(queue) for queue in QUEUES} == {"celery": "classic", "io": "classic"}
    hosts = {"worker1": worker1, "worker2": worker2}
    for name, units in STOPPED_FIRST.items():
        hosts[name].check_output(f"systemctl stop {' '.join(units)}")
    for queue in QUEUES:
        broker.check_output(f"rabbitmqctl -q delete_queue -p fleet {queue}")

    converge(["broker", "worker1", "worker2"], "-e", json.dumps({"fleet_queue_type": "quorum"}))

    assert {queue: queue_types(broker).get(queue) for queue in QUEUES} == {"celery": "quorum", "io": "quorum"}
    for name, units in STOPPED_FIRST.items():
        for unit in units:
            assert hosts[name].service(unit).is_running, f"{unit} on {name}"
    assert client.send_task("fleet.add", args=[2, 3]).get(timeout=30) == 5
    assert client.send_task("fleet.whoami", queue="io").get(timeout=30)["node"] == "io@worker2"
    # A countdown task is held by the worker until due, then runs (quorum queues turn off global QoS).
    assert client.send_task("fleet.add", args=[40, 2], countdown=2).get(timeout=30) == 42
    # Remote control is unaffected: its queues are not task queues.
    replies = monitor.control.ping(timeout=5)
    assert {node for reply in replies for node in reply} == {"default@worker1", "io@worker2"}
