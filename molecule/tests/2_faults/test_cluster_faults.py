"""The broker cluster under load, six faults: the cluster fault table of docs/reliability.md, written by this run.

Mark `cluster_faults`, on a cluster (the strict scenario, after 1_fleet). In every case a steady stream of
``fleet.sleep`` probes with unique ids flows through the verifier's client to both task queues before, during and
after the fault; the workers' journals say which probes completed (fleettest.faults). A case passes with zero lost
tasks, no send that failed, and the cluster whole again afterwards: every node running, no partition, each quorum
queue with one leader and all its members, and no node quorum-critical (fleettest.cluster). Duplicates (a probe
that ran twice: at-least-once delivery across a lost connection) are counted and reported, not failed.

The table is printed, written to cluster-faults-report.md (git-ignored) and, with FLEET_FAULTS_DOCS=1, into
docs/reliability.md between its markers: the figures in the docs come from a run, never from a hand.
"""

import contextlib
import os
import time

import pytest
from fleettest.clients import celery_client
from fleettest.cluster import DownWatch, leader_of, node_of, paused, running_nodes, wait_whole
from fleettest.faults import Feeder, Fleet, container_ip, podman, recreate, sh, table, timed
from fleettest.scenario import BROKER, BROKERS, PROJECT, cluster_only, converge, recap_changes
from fleettest.wait import wait_for

pytestmark = [cluster_only, pytest.mark.cluster_faults]

QUEUES = ("celery", "io")  # the task queues (the base config's worker groups), fed in turn
RATE = 3  # probes per second
PROBE_SECONDS = 0.5
LEAD = 5  # seconds of load before the fault and after it
SETTLE = 240  # seconds a case may take to drain after its fault
REPORT = PROJECT / "cluster-faults-report.md"
DOC = PROJECT / "docs" / "reliability.md"
BEGIN = "<!-- BEGIN cluster-faults: written by the cluster fault suite (FLEET_FAULTS_DOCS=1), do not edit -->"
END = "<!-- END cluster-faults -->"
# The worker units of the strict scenario's hosts (restarted in case 3 while the first node is down).
WORKER_UNITS = {"worker1": ["celery-worker-default"], "worker2": ["celery-worker-io"]}
# A worker whose node goes away logs a refused connection or two on its way to the next node. kombu#706 and
# celery#6183 report workers that never get there: they retry in a tight loop, for as long as the node is down.
# More refusals than this in one case, on one worker, is that loop.
REFUSALS_PER_WORKER = 10
REFUSED = "Cannot connect to"
# A node cut off from the others notices it after RabbitMQ's net_ticktime (60 s: between 60 and 75 s), then pauses
# itself (pause_minority); it stays cut off PARTITION_HOLD seconds more.
PARTITION_NOTICED = 120
PARTITION_HOLD = 10
# Case 5's change of a RabbitMQ setting (consumer_timeout, harmless to the cases after it): every node must restart.
ROLLING_CHANGE = ("-e", "fleet_consumer_timeout=1802", "--tags", "rabbitmq_config")
CASES = 6


@pytest.fixture(scope="module")
def fleet(client):
    fleet = Fleet(client)
    yield fleet
    report = table(fleet.results)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = (
        f"Debian 13 containers, {len(BROKERS)} broker nodes; run at {when}; {RATE} probes a second of "
        f"{PROBE_SECONDS} s each throughout.\n\n{report}\n"
    )
    REPORT.write_text(f"# Cluster fault suite\n\n{text}")
    if os.environ.get("FLEET_FAULTS_DOCS") == "1" and len(fleet.results) == CASES:
        into_doc(text, DOC)
    print("\n" + report)


def into_doc(text, doc):
    """Put the run's table into ``doc`` between its markers."""
    current = doc.read_text()
    start, end = current.find(BEGIN), current.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{doc} lacks the markers {BEGIN!r} ... {END!r}")
    doc.write_text(current[: start + len(BEGIN)] + "\n\n" + text.strip() + "\n\n" + current[end:])


@contextlib.contextmanager
def under_load(fleet):
    """A steady stream of probes through ``fleet``'s client from LEAD seconds before the block to LEAD after."""
    # Sent without a result, as a producer that fires and forgets does (the workers' journals say which ran). With
    # rpc:// results a client cannot send while the node holding its reply queue is down (docs/cluster.md).
    feeder = Feeder(fleet, rate=RATE, seconds=PROBE_SECONDS, queues=QUEUES, ignore_result=True)
    feeder.since = time.time()
    feeder.start()
    time.sleep(LEAD)
    try:
        yield feeder
    finally:
        time.sleep(LEAD)
        feeder.stop()


def finish(fleet, feeder, case, fault_end, notes=""):
    """Settle the case, record its row, and assert what every case must: none lost, every send accepted, the
    cluster whole again."""
    outcome = fleet.settle(case, feeder.ids, feeder.since, fault_end, SETTLE, notes=notes)
    assert not feeder.is_alive(), f"{case}: the client's sends did not stop (a send hangs)"
    assert feeder.errors == [], f"{case}: sends failed: {feeder.errors[:3]}"
    assert outcome.lost == 0, f"{case}: {outcome.lost} of {outcome.submitted} tasks lost ({outcome})"
    for worker in fleet.workers:
        refusals = [line for line in fleet.journal(feeder.since, workers=[worker]) if REFUSED in line]
        assert len(refusals) <= REFUSALS_PER_WORKER, f"{case}: {worker} retried in a loop: {refusals[:5]}"
    wait_whole(BROKERS, QUEUES)
    return outcome


def others(name):
    return [other for other in BROKERS if other != name]


def main_pid(container):
    return int(sh(container, "systemctl show --property MainPID --value rabbitmq-server").strip() or 0)


def test_1_the_node_leading_the_task_queues_stopped(fleet):
    leader = wait_for(lambda: leader_of(BROKER, "celery"), 60, what="the leader of 'celery'")
    survivor = others(leader)[0]
    with under_load(fleet) as feeder:
        sh(leader, "systemctl stop rabbitmq-server", timeout=180)
        # The queue's remaining members elect a leader among themselves.
        new_leader = wait_for(
            lambda: (name := leader_of(survivor, "celery")) != leader and name, 60, what="a new leader of 'celery'"
        )
        time.sleep(15)  # the cluster serves on two nodes
        sh(leader, "systemctl start rabbitmq-server", timeout=300)
    finish(
        fleet,
        feeder,
        "1. the node leading the task queue stopped (systemctl stop), started 15 s later",
        time.time(),
        notes=f"{leader} led 'celery', {new_leader} took over",
    )
    assert node_of(leader) in running_nodes(survivor)


def test_2_kill_9_of_every_rabbitmq_process_on_a_node(fleet):
    victim = BROKER  # the first node of every URL: the workers and the client are connected to it
    before = main_pid(victim)
    with under_load(fleet) as feeder:
        # The node (beam.smp and its helpers, the rabbitmq user's) and the port mapper (epmd, its own user).
        sh(victim, "pkill -9 -u rabbitmq; pkill -9 -x epmd; true")
        killed_at = time.time()
        # systemd brings the node back (Restart=on-failure, the role's drop-in); it rejoins by itself.
        wait_for(lambda: main_pid(victim) not in (0, before), 120, what=f"systemd to restart RabbitMQ on {victim}")
        wait_for(
            lambda: node_of(victim) in running_nodes(others(victim)[0]), 300, interval=2, what=f"{victim} to rejoin"
        )
        back_after = time.time() - killed_at
    finish(
        fleet,
        feeder,
        f"2. kill -9 of every RabbitMQ process on {victim}",
        time.time(),
        notes=f"restarted by systemd and back in the cluster after {back_after:.0f} s",
    )


def test_3_a_worker_and_a_client_started_while_their_first_node_is_down(fleet, client_url, results_url):
    first = BROKERS[0]
    sh(first, "systemctl stop rabbitmq-server", timeout=180)
    try:
        wait_for(lambda: node_of(first) not in running_nodes(BROKERS[1]), 60, what=f"{first} to leave")
        # Workers that start now find the first URL refused: their first connection must fail over, and so must
        # their delayed-delivery setup (Celery's own retried the dead node and stalled the consumer).
        for worker, units in WORKER_UNITS.items():
            sh(worker, f"systemctl restart {' '.join(units)}", timeout=180)
        # A client that has never connected: its very first send must fail over too (the node stays down until
        # the case ends: a send waiting for it would never return).
        app = celery_client("verifier-first-node-down", client_url, results_url)
        try:
            late = Fleet(app)
            since = time.time()
            with timed() as first_send:
                ids = late.submit(1, PROBE_SECONDS, ignore_result=True)
            with under_load(late) as feeder:
                time.sleep(10)
        finally:
            app.close()
    finally:
        sh(first, "systemctl start rabbitmq-server", timeout=300)
    feeder.ids[:0], feeder.since = ids, since
    finish(
        fleet,
        feeder,
        f"3. workers and a new client started while their first-listed node ({first}) is down",
        time.time(),
        notes=f"the client's first send returned after {first_send['seconds']} s",
    )


def test_4_a_node_cut_off_from_the_others_pauses_and_the_cluster_heals(fleet):
    # The node leading 'celery', unless that is the first node: the workers and the client are connected there,
    # and a silent node under its clients is the single broker's case 7 (the heartbeats catch it).
    leader = wait_for(lambda: leader_of(BROKER, "celery"), 60, what="the leader of 'celery'")
    victim = leader if leader != BROKER else BROKERS[-1]
    address = container_ip(victim)
    with under_load(fleet) as feeder:
        podman("network", "disconnect", fleet.network, victim)
        cut_at = time.time()
        try:
            wait_for(lambda: paused(victim), PARTITION_NOTICED, interval=3, what=f"{victim} to pause itself")
            paused_after = time.time() - cut_at
            time.sleep(PARTITION_HOLD)
        finally:
            # The same address: the members' /etc/hosts and firewalls name each other by it, as on real machines.
            podman("network", "connect", "--ip", address, fleet.network, victim)
        reconnected_at = time.time()
        # Nobody restarts anything: the paused node resumes and rejoins once it sees the majority again.
        wait_for(
            lambda: not paused(victim) and node_of(victim) in running_nodes(others(victim)[0]),
            180,
            interval=3,
            what=f"{victim} to resume and rejoin",
        )
        healed_after = time.time() - reconnected_at
    finish(
        fleet,
        feeder,
        f"4. {victim} cut off from the others (podman network disconnect) until it paused, then {PARTITION_HOLD} s",
        time.time(),
        notes=(
            f"{victim} {'led' if victim == leader else 'followed on'} 'celery'; paused itself after "
            f"{paused_after:.0f} s, back in the cluster {healed_after:.0f} s after its reconnection"
        ),
    )


def test_5_a_rolling_restart_of_the_whole_cluster_through_site_yml(fleet):
    """A changed RabbitMQ setting, applied by site.yml while tasks flow: every node restarts, one at a time.

    The cluster keeps the changed setting (the scenario's later tests converge the workers only).
    """
    before = {name: main_pid(name) for name in BROKERS}
    watch = DownWatch(BROKERS)
    with under_load(fleet) as feeder:
        watch.start()
        try:
            with timed() as run:
                converge(BROKERS, *ROLLING_CHANGE)
        finally:
            watch.stop()
    finish(
        fleet,
        feeder,
        "5. a RabbitMQ setting changed and applied by site.yml (a rolling restart of every node)",
        time.time(),
        notes=(
            f"the run took {run['seconds']:.0f} s; at most {watch.most} node down at once ({watch.samples} samples)"
        ),
    )
    restarted = [name for name in BROKERS if main_pid(name) not in (0, before[name])]
    assert restarted == BROKERS, f"only {restarted} restarted onto the new setting"
    for name in BROKERS:
        assert "consumer_timeout = 1802000" in sh(name, "cat /etc/rabbitmq/rabbitmq.conf")
    assert watch.down == set(BROKERS), f"the watch saw only {sorted(watch.down)} restart ({watch.samples} samples)"
    assert watch.most == 1, f"{watch.most} nodes were down at once"


def test_6_a_destroyed_node_replaced_by_a_fresh_machine(fleet):
    """A node's machine is destroyed (its disk with it); a fresh one of the same name and address takes its place
    through replace-broker.yml, and the quorum queues grow a member onto it. The run is limited to the brokers: the
    workers' and clients' URLs do not change. It also applies a RabbitMQ setting the survivors do not run yet, so
    they restart one at a time during the replacement, which they can only once the queues have grown onto the new
    node (with two members left, a restart would wait for ever for a majority without the restarted node)."""
    victim = BROKERS[-1]
    address = container_ip(victim)
    replace = ("-e", f"fleet_broker_replaced={victim}", "-e", "fleet_consumer_timeout=1803")
    with under_load(fleet) as feeder:
        podman("rm", "--force", "--time=0", victim, timeout=180)
        wait_for(
            lambda: node_of(victim) not in running_nodes(BROKER), 180, interval=3, what=f"the cluster to lose {victim}"
        )
        recreate(victim, address)
        with timed() as run:
            converge(BROKERS, *replace, playbook="replace-broker.yml")
    finish(
        fleet,
        feeder,
        f"6. {victim}'s machine destroyed and replaced by a fresh one (replace-broker.yml)",
        time.time(),
        notes=f"replace-broker.yml took {run['seconds']:.0f} s",
    )
    # The new node holds a member of every task queue: wait_whole (in finish) checked them online on every node.
    # And the run is idempotent: a second one forgets nothing and grows nothing.
    for name in BROKERS:
        assert "consumer_timeout = 1803000" in sh(name, "cat /etc/rabbitmq/rabbitmq.conf")
    again = converge(BROKERS, *replace, playbook="replace-broker.yml")
    changes = recap_changes(again)
    assert set(changes.values()) == {0}, changes
