"""The benchmark's baselines (bench/remote.py, bench/run.py): Celery hardened by hand has the fleet's guarantees and
runs the lab's worker groups, so that the fleet's ratio to it measures the fleet's own wiring and nothing else."""

import remote
import run


def test_the_hardened_app_sets_the_fleets_guarantees_and_nothing_else():
    conf = remote.hardened.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options == {"confirm_publish": True}
    assert conf.task_default_delivery_mode == "persistent"
    assert conf.result_backend == "rpc://"
    # Celery's defaults otherwise: the tutorial app shares none of it.
    assert not remote.app.conf.task_acks_late and remote.app.conf.worker_prefetch_multiplier == 4


def test_both_baseline_apps_serve_the_fleets_task_names():
    for app in (remote.app, remote.hardened):
        assert {"fleet.add", "fleet.sleep"} <= set(app.tasks)
        assert app.tasks["fleet.add"](2, 3) == 5


def test_the_hardened_baseline_runs_one_worker_per_lab_group_with_its_queues_pool_and_concurrency():
    groups = run.lab_worker_groups()
    units = dict(run.baseline_units("hardened", "c1"))
    assert sorted(units) == sorted(f"bench-hardened-{name}" for name in groups)
    for name, group in groups.items():
        argv = units[f"bench-hardened-{name}"]
        option = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
        assert option["--app"] == "remote:hardened"
        assert option["--queues"].split(",") == [remote.HARDENED_QUEUE_PREFIX + q for q in group["queues"]]
        assert (option["--pool"], option["--concurrency"]) == (group["pool"], str(group["concurrency"]))
        assert option["--hostname"] == f"hardened-{name}@c1"


def test_every_baseline_unit_is_stopped_between_setups():
    names = run.all_baseline_units()
    assert {"bench-tutorial", "bench-echo"} <= set(names)
    assert len(names) == len(set(names)) == 2 + len(run.lab_worker_groups())
    assert run.baseline_units("fleet", "c1") == []
