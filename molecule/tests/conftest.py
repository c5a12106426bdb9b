"""Fixtures of the fleet verifier, shared by every scenario: testinfra hosts for each container, and Celery clients
on the control node (fleettest.clients makes them as the fleet's clients are made).

Which tests run in a scenario is its molecule.yml's verifier `m` option (a pytest mark expression over the groups
below); which of those apply follows from what the scenario deployed (fleettest.scenario's skip marks). Test files
run in path order, and the directories say that order: 1_fleet tests the fleet as deployed (a test that changes it
puts it back), then the groups that leave it changed for good, each for the next: 2_faults (mark `faults`: the
fault-injection suite, which ends on a new version of the tasks package), 3_rollout (mark `rollout`: another
tasks package), 4_switches (mark `switches`: quorum queues; RabbitMQ as the broker of the Redis fleet; mark
`unmonitor`: the monitor group of a monitored fleet emptied).
"""

import pytest
import testinfra
from fleettest.clients import amqp_failover_url, celery_client, redis_url
from fleettest.faults import container_ip
from fleettest.scenario import BROKER, BROKER_KIND, BROKERS, RESULTS_KIND, generated_password


def _host(name):
    # podman exec straight into the container: what Ansible reached over its podman connection, without
    # Ansible's per-command overhead.
    return testinfra.get_host(f"podman://{name}")


@pytest.fixture(scope="session")
def broker():
    """The (first) broker host."""
    return _host(BROKER)


@pytest.fixture(scope="session")
def brokers():
    """Every broker host: one, or a cluster's nodes."""
    return [_host(name) for name in BROKERS]


@pytest.fixture(scope="session")
def worker1():
    return _host("worker1")


@pytest.fixture(scope="session")
def worker2():
    return _host("worker2")


@pytest.fixture(scope="session")
def broker_ip():
    """The address of the (first) broker host on the scenario's network."""
    return container_ip(BROKER)


@pytest.fixture(scope="session")
def broker_ips():
    """The address of every broker host, in the inventory's order."""
    return [container_ip(name) for name in BROKERS]


@pytest.fixture(scope="session")
def fleet_password():
    """The broker password of the workers' identity (RabbitMQ's or Redis's, whichever is the broker)."""
    return generated_password({"rabbitmq": "fleet_amqp_password", "redis": "fleet_redis_password"}[BROKER_KIND])


@pytest.fixture(scope="session")
def client_password():
    """The password of the clients' identity (fleet-client) on RabbitMQ; Redis has one identity."""
    return generated_password("fleet_amqp_client_password") if BROKER_KIND == "rabbitmq" else None


@pytest.fixture(scope="session")
def monitor_password():
    """The password of the monitoring identity (fleet-monitor) on RabbitMQ; Redis has one identity."""
    return generated_password("fleet_amqp_monitor_password") if BROKER_KIND == "rabbitmq" else None


@pytest.fixture(scope="session")
def client_url(broker_ip, broker_ips, fleet_password, client_password):
    """The broker URL of the fleet's clients (the identity that may only send tasks and read results): every node
    of a cluster, as the client env file lists them."""
    if BROKER_KIND == "redis":
        return redis_url(broker_ip, "fleet", fleet_password, 0)
    return amqp_failover_url(broker_ips, "fleet-client", client_password, "fleet")


@pytest.fixture(scope="session")
def results_url(broker_ip, fleet_password):
    return "rpc://" if RESULTS_KIND == "rpc" else redis_url(broker_ip, "fleet", fleet_password, 1)


@pytest.fixture(scope="session")
def monitor(broker_ip, broker_ips, fleet_password, monitor_password, results_url):
    """A client with the monitoring identity (celery inspect); on Redis, the fleet's one identity."""
    if BROKER_KIND == "redis":
        url = redis_url(broker_ip, "fleet", fleet_password, 0)
    else:
        url = amqp_failover_url(broker_ips, "fleet-monitor", monitor_password, "fleet")
    app = celery_client("verifier-monitor", url, results_url, identity="monitor")
    yield app
    app.close()


@pytest.fixture(scope="session")
def client(client_url, results_url):
    """The fleet's client, with its routing table, connected as the client identity."""
    app = celery_client("verifier-client", client_url, results_url)
    yield app
    app.close()
