"""RabbitMQ as broker with Redis results: the third supported combination, on the Redis scenario's fleet.

Mark `switches`, on the Redis fleet only: after the scenario's other tests (4_switches runs last),
converges the same hosts with fleet_broker=rabbitmq, fleet_results=redis, which installs RabbitMQ on the broker host
and moves the workers to AMQP. A task sent over AMQP stores its result in Redis, where another client reads it by
task id alone.
"""

import json
import secrets

import pytest
from fleettest.clients import amqp_url, celery_client, redis_url
from fleettest.scenario import BROKERS, converge, redis_only


@redis_only
@pytest.mark.switches
def test_rabbitmq_broker_with_redis_results(broker, broker_ip, fleet_password):
    client_password = secrets.token_urlsafe(18) + "/@:%#?&"
    variables = {
        "fleet_broker": "rabbitmq",
        "fleet_results": "redis",
        "fleet_amqp_password": secrets.token_urlsafe(18) + "/@:%#?&",
        "fleet_amqp_client_password": client_password,
        "rabbitmq_erlang_cookie": secrets.token_hex(20),
    }
    converge([*BROKERS, "worker1", "worker2"], "-e", json.dumps(variables))
    assert broker.service("rabbitmq-server").is_running
    assert broker.service("redis-server").is_running

    results = redis_url(broker_ip, "fleet", fleet_password, 1)
    # Over TLS (the default), as the client identity.
    sender = celery_client("sender", amqp_url(broker_ip, "fleet-client", client_password, "fleet", tls=True), results)
    result = sender.send_task("fleet.add", args=[20, 22])
    assert result.get(timeout=60) == 42
    assert result.worker == "default@worker1"

    # Unlike rpc://, a stored result can be read by another client, knowing only the task id.
    reader = celery_client("reader", "memory://", results)
    assert reader.AsyncResult(result.id).get(timeout=10) == 42
    sender.close()
    reader.close()
