"""The preflight's check of what a running broker already declared (fleet_declared_type_conflicts): a task queue or
exchange whose type the inventory would change is named before anything changes."""

from fleet_wiring import fleet_declared_type_conflicts

SINGLE_BROKER = {
    "queues": [
        {"name": "celery", "vhost": "fleet", "durable": True, "arguments": {}},
        {"name": "io", "vhost": "fleet", "durable": True, "arguments": {"x-queue-type": "classic"}},
        {"name": "celery", "vhost": "other", "arguments": {"x-queue-type": "quorum"}},
        {"name": "celeryev.1f0e", "vhost": "fleet", "arguments": {}},
    ],
    "exchanges": [
        {"name": "celery", "vhost": "fleet", "type": "direct"},
        {"name": "io", "vhost": "fleet", "type": "direct"},
        {"name": "celeryev", "vhost": "fleet", "type": "topic"},
    ],
}


def test_a_single_brokers_classic_queues_conflict_with_a_clusters_defaults():
    conflicts = fleet_declared_type_conflicts(SINGLE_BROKER, "fleet", ["celery", "io"], "quorum", "topic")
    assert conflicts == [
        "queue celery is classic, fleet_queue_type is quorum",
        "queue io is classic, fleet_queue_type is quorum",
        "exchange celery is direct, fleet_task_exchange_type is topic",
        "exchange io is direct, fleet_task_exchange_type is topic",
    ]


def test_the_same_types_conflict_with_nothing():
    assert fleet_declared_type_conflicts(SINGLE_BROKER, "fleet", ["celery", "io"], "classic", "direct") == []


def test_only_the_fleets_vhost_and_task_queues_count():
    # celery in another vhost is quorum, celeryev is Celery's own: neither is the fleet's to declare.
    assert fleet_declared_type_conflicts(SINGLE_BROKER, "fleet", ["celery"], "classic", "direct") == []
    assert fleet_declared_type_conflicts(SINGLE_BROKER, "fleet", ["new"], "quorum", "topic") == []


def test_the_type_field_of_newer_exports_wins_over_the_argument():
    definitions = {"queues": [{"name": "celery", "vhost": "fleet", "type": "quorum", "arguments": {}}]}
    assert fleet_declared_type_conflicts(definitions, "fleet", ["celery"], "quorum", "topic") == []


def test_a_broker_that_is_not_running_has_nothing_to_conflict_with():
    assert fleet_declared_type_conflicts({}, "fleet", ["celery"], "quorum", "topic") == []
    assert fleet_declared_type_conflicts(None, "fleet", ["celery"], "quorum", "topic") == []
