"""Monitoring removed: the monitor group of a monitored fleet emptied, and site.yml run again.

Mark `unmonitor`, on a fleet with a monitor host (the default scenario, whose broker is also the monitor host), after
the scenario's other tests (4_switches runs last): site.yml with fleet_monitor_group naming a group the inventory
does not have, as when the group is emptied. Then nothing of monitoring is left on any host (what the monitoring-off
scenario checks on a fleet that never had it), and every queue is still served. That a run on such a fleet changes
nothing is the redis scenario's idempotence (it has no monitor host: the same removal tasks find nothing to remove),
so it is not run a second time here: make test's time is better spent elsewhere.
"""

import pytest
import testinfra
from fleettest.monitoring import monitoring_leftovers
from fleettest.scenario import FLEET_HOSTS, converge, monitoring_only

UNMONITORED = ("-e", "fleet_monitor_group=celery_fleet_no_monitor")


@monitoring_only
@pytest.mark.unmonitor
def test_emptying_the_monitor_group_removes_monitoring_from_every_host(client):
    converge(FLEET_HOSTS, *UNMONITORED)
    leftovers = {name: monitoring_leftovers(testinfra.get_host(f"podman://{name}")) for name in FLEET_HOSTS}
    assert leftovers == {name: [] for name in FLEET_HOSTS}

    # The workers restarted without task events, and serve every queue.
    assert client.send_task("fleet.add", args=[20, 22]).get(timeout=60) == 42
    assert client.send_task("fleet.add", args=[1, 2], queue="io").get(timeout=60) == 3
