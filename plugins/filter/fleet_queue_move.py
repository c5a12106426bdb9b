"""Moving the task queues to other types (move-queues.yml): what to move, and what to declare in their place.

A RabbitMQ queue or exchange keeps the type it was declared with. Growing one broker into a cluster changes the
fleet's defaults (classic queues on direct exchanges become quorum queues on topic exchanges), and the broker play
refuses to run while the broker holds the old types (fleet_declared_type_conflicts). move-queues.yml moves them:
each task queue's messages wait in a holding queue while the queue and its exchange are deleted and declared again
with the types the inventory asks for, then come back.
"""

from urllib.parse import quote

# The holding queue of a task queue being moved: a classic queue named after it, which only the move uses.
HOLDING_PREFIX = "celery-fleet.moving."


def _queue_type(queue):
    """A declared queue's type, as export_definitions writes it (3.10 has no "type" key: the argument, or classic)."""
    return queue.get("type") or (queue.get("arguments") or {}).get("x-queue-type") or "classic"


def _of_vhost(definitions, kind, vhost):
    return {item["name"]: item for item in (definitions or {}).get(kind) or [] if item.get("vhost") == vhost}


def fleet_declared_type_conflicts(definitions, vhost, task_queues, queue_type, exchange_type):
    """What the broker already holds that the inventory would declare differently: one line per task queue or task
    exchange of ``vhost`` whose type is not ``queue_type`` / ``exchange_type``.

    ``definitions``: RabbitMQ's ``export_definitions`` (a dict; empty for a broker that is not running yet). A queue
    or exchange keeps the type it was declared with, and a worker that declares it with another type is refused by
    the broker (PRECONDITION_FAILED) and cannot start: growing one broker into a cluster flips the defaults of both
    (fleet_queue_type, fleet_task_exchange_type). A holding queue left by an interrupted move-queues.yml counts too:
    its tasks wait there, and publishing may still be paused, until move-queues.yml runs again.
    """
    queues = _of_vhost(definitions, "queues", vhost)
    exchanges = _of_vhost(definitions, "exchanges", vhost)
    conflicts = []
    for name in (str(queue) for queue in task_queues):
        if name in queues and _queue_type(queues[name]) != queue_type:
            conflicts.append(f"queue {name} is {_queue_type(queues[name])}, fleet_queue_type is {queue_type}")
    for name in (str(queue) for queue in task_queues):
        if name in exchanges and exchanges[name].get("type") != exchange_type:
            conflicts.append(
                f"exchange {name} is {exchanges[name].get('type')}, fleet_task_exchange_type is {exchange_type}"
            )
    for name in (str(queue) for queue in task_queues):
        if HOLDING_PREFIX + name in queues:
            conflicts.append(f"queue {name} is being moved (its holding queue {HOLDING_PREFIX + name} exists)")
    return conflicts


def fleet_queue_moves(definitions, vhost, task_queues, queue_type, exchange_type):
    """The task queues of ``vhost`` to move, each ``{queue, holding, move_out, delete_queue, delete_exchange}``.

    A queue moves when it, or its exchange (of the same name), has another type than the inventory's, or when a
    holding queue of it is left from an interrupted move (its messages still have to come back). ``move_out``: its
    messages go to the holding queue first (the queue exists with the old type); ``delete_queue`` and
    ``delete_exchange``: which of the two has the old type and must go before it is declared again.
    """
    queues = _of_vhost(definitions, "queues", vhost)
    exchanges = _of_vhost(definitions, "exchanges", vhost)
    moves = []
    for name in (str(queue) for queue in task_queues):
        holding = HOLDING_PREFIX + name
        old_queue = name in queues and _queue_type(queues[name]) != queue_type
        old_exchange = name in exchanges and exchanges[name].get("type") != exchange_type
        if old_queue or old_exchange or holding in queues:
            moves.append(
                {
                    "queue": name,
                    "holding": holding,
                    "move_out": old_queue,
                    "delete_queue": old_queue,
                    "delete_exchange": old_exchange,
                }
            )
    return moves


def fleet_moved_definitions(moves, vhost, queue_type, exchange_type):
    """RabbitMQ definitions (for ``rabbitmqctl import_definitions``) of the moved task queues, as workers declare them.

    Each queue is durable with ``x-queue-type``, bound to the exchange of its name (durable, of ``exchange_type``)
    with its name as the routing key: what Celery declares for a task queue (task_default_queue_type,
    task_default_exchange_type), so the workers that start on them later find them equivalent.
    """
    names = [move["queue"] for move in moves]
    return {
        "queues": [
            {
                "name": name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": {"x-queue-type": queue_type},
            }
            for name in names
        ],
        "exchanges": [
            {
                "name": name,
                "vhost": vhost,
                "type": exchange_type,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name in names
        ],
        "bindings": [
            {
                "source": name,
                "vhost": vhost,
                "destination": name,
                "destination_type": "queue",
                "routing_key": name,
                "arguments": {},
            }
            for name in names
        ],
    }


def fleet_holding_definitions(moves, vhost):
    """RabbitMQ definitions of the moves' holding queues: durable classic queues, declared before publishing pauses."""
    return {
        "queues": [
            {"name": move["holding"], "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}
            for move in moves
        ]
    }


def fleet_shovel(source_queue, vhost, destination, routing_key=None):
    """A one-off dynamic shovel's definition: every message now in ``source_queue`` moves, then the shovel goes.

    Local direct connections to ``vhost`` (``amqp:///<vhost>``; a bare ``amqp://`` would mean the default vhost),
    each message acknowledged once the destination confirmed it. To a queue (``routing_key`` None: the holding
    queue, which the shovel declares as a durable classic queue) or through an exchange (``destination``, with
    ``routing_key``: a moved task queue, which the shovel must not declare, since it would declare it classic).
    """
    uri = "amqp:///" + quote(vhost, safe="")
    shovel = {
        "src-protocol": "amqp091",
        "src-uri": uri,
        "src-queue": source_queue,
        "src-delete-after": "queue-length",
        "dest-protocol": "amqp091",
        "dest-uri": uri,
        "ack-mode": "on-confirm",
    }
    if routing_key is None:
        shovel["dest-queue"] = destination
    else:
        shovel["dest-exchange"] = destination
        shovel["dest-exchange-key"] = routing_key
    return shovel


class FilterModule:
    """Filters of the task queues' move."""

    def filters(self):
        return {
            "fleet_declared_type_conflicts": fleet_declared_type_conflicts,
            "fleet_queue_moves": fleet_queue_moves,
            "fleet_moved_definitions": fleet_moved_definitions,
            "fleet_holding_definitions": fleet_holding_definitions,
            "fleet_shovel": fleet_shovel,
        }
