"""Task queues of another type than the inventory's: the broker play's check names them before anything changes
(fleet_declared_type_conflicts); move-queues.yml moves them (fleet_queue_moves, fleet_moved_definitions,
fleet_shovel)."""

from fleet_queue_move import (
    HOLDING_PREFIX,
    fleet_declared_type_conflicts,
    fleet_holding_definitions,
    fleet_moved_definitions,
    fleet_queue_moves,
    fleet_shovel,
)

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


def test_a_single_brokers_queues_all_move_to_a_clusters_types():
    moves = fleet_queue_moves(SINGLE_BROKER, "fleet", ["celery", "io"], "quorum", "topic")
    assert moves == [
        {
            "queue": "celery",
            "holding": HOLDING_PREFIX + "celery",
            "move_out": True,
            "delete_queue": True,
            "delete_exchange": True,
        },
        {
            "queue": "io",
            "holding": HOLDING_PREFIX + "io",
            "move_out": True,
            "delete_queue": True,
            "delete_exchange": True,
        },
    ]


def test_nothing_moves_when_the_types_are_the_inventorys():
    assert fleet_queue_moves(SINGLE_BROKER, "fleet", ["celery", "io"], "classic", "direct") == []
    assert fleet_queue_moves({}, "fleet", ["celery"], "quorum", "topic") == []


def test_an_interrupted_move_is_finished():
    # The queue was declared again with its new type, its messages still wait in the holding queue.
    definitions = {
        "queues": [
            {"name": "celery", "vhost": "fleet", "type": "quorum", "arguments": {"x-queue-type": "quorum"}},
            {"name": HOLDING_PREFIX + "celery", "vhost": "fleet", "arguments": {}},
        ],
        "exchanges": [{"name": "celery", "vhost": "fleet", "type": "topic"}],
    }
    assert fleet_queue_moves(definitions, "fleet", ["celery"], "quorum", "topic") == [
        {
            "queue": "celery",
            "holding": HOLDING_PREFIX + "celery",
            "move_out": False,
            "delete_queue": False,
            "delete_exchange": False,
        }
    ]
    # Interrupted earlier: the queue was deleted, its exchange still has the old type.
    definitions["queues"] = definitions["queues"][1:]
    definitions["exchanges"][0]["type"] = "direct"
    [move] = fleet_queue_moves(definitions, "fleet", ["celery"], "quorum", "topic")
    assert (move["move_out"], move["delete_queue"], move["delete_exchange"]) == (False, False, True)


def test_the_moved_queues_are_declared_as_celery_declares_them():
    moves = fleet_queue_moves(SINGLE_BROKER, "fleet", ["celery"], "quorum", "topic")
    definitions = fleet_moved_definitions(moves, "fleet", "quorum", "topic")
    assert definitions["queues"] == [
        {
            "name": "celery",
            "vhost": "fleet",
            "durable": True,
            "auto_delete": False,
            "arguments": {"x-queue-type": "quorum"},
        }
    ]
    assert [(x["name"], x["type"], x["durable"]) for x in definitions["exchanges"]] == [("celery", "topic", True)]
    assert [(b["source"], b["destination"], b["routing_key"]) for b in definitions["bindings"]] == [
        ("celery", "celery", "celery")
    ]


def test_a_shovel_moves_what_is_queued_now_then_goes():
    out = fleet_shovel("celery", "fleet", HOLDING_PREFIX + "celery")
    assert out["src-queue"] == "celery" and out["dest-queue"] == HOLDING_PREFIX + "celery"
    assert (out["src-delete-after"], out["ack-mode"]) == ("queue-length", "on-confirm")
    back = fleet_shovel(HOLDING_PREFIX + "celery", "fleet", "celery", "celery")
    # Back through the exchange: a shovel that declared the quorum queue as its destination would declare it classic.
    assert "dest-queue" not in back
    assert (back["dest-exchange"], back["dest-exchange-key"]) == ("celery", "celery")


def test_a_shovel_connects_to_the_fleets_vhost():
    assert fleet_shovel("celery", "fleet", "x")["src-uri"] == "amqp:///fleet"
    # A vhost name is a URI path segment: a slash in it is escaped, or the shovel would reach another vhost.
    assert fleet_shovel("celery", "a/b c", "x")["dest-uri"] == "amqp:///a%2Fb%20c"


def test_an_interrupted_move_stops_the_broker_play():
    definitions = {"queues": [{"name": HOLDING_PREFIX + "io", "vhost": "fleet", "arguments": {}}]}
    assert fleet_declared_type_conflicts(definitions, "fleet", ["celery", "io"], "quorum", "topic") == [
        f"queue io is being moved (its holding queue {HOLDING_PREFIX}io exists)"
    ]


def test_the_holding_queues_are_durable_classic_queues():
    moves = fleet_queue_moves(SINGLE_BROKER, "fleet", ["celery", "io"], "quorum", "topic")
    assert fleet_holding_definitions(moves, "fleet") == {
        "queues": [
            {"name": HOLDING_PREFIX + name, "vhost": "fleet", "durable": True, "auto_delete": False, "arguments": {}}
            for name in ("celery", "io")
        ]
    }
