"""The celery_worker role's filters (roles/celery_worker/filter_plugins/celery_worker.py)."""

from celery_worker import (
    celery_worker_full_instances,
    celery_worker_installed_record,
    celery_worker_lock_requires,
    celery_worker_unit_inputs,
    celery_worker_wheels_to_reinstall,
)

DEFAULTS = {"concurrency": 4, "pool": "prefork", "loglevel": "INFO", "time_limit": 300, "soft_time_limit": 270}


def test_instances_get_the_role_defaults_where_they_set_nothing():
    instances = celery_worker_full_instances(
        [{"name": "io", "queues": ["io", ""], "pool": "threads", "time_limit": 60, "concurrency": None}], DEFAULTS
    )
    assert instances == [
        {
            "name": "io",
            "unit": "celery-worker-io.service",
            "queues": ["io"],
            "concurrency": 4,
            "pool": "threads",
            "loglevel": "INFO",
            "time_limit": 60,
            "soft_time_limit": 270,
            "stop_timeout": 90,
            "options": [],
        }
    ]


def test_prefork_instances_recycle_their_processes_and_zero_overrides_the_default():
    defaults = dict(DEFAULTS, max_tasks_per_child=1000, max_memory_per_child=0)
    instances = celery_worker_full_instances(
        [
            {"name": "default"},
            {"name": "big", "max_tasks_per_child": 0, "max_memory_per_child": 204800},
            {"name": "io", "pool": "threads", "max_memory_per_child": 204800},
        ],
        defaults,
    )
    assert [instance["options"] for instance in instances] == [
        ["--max-tasks-per-child 1000"],
        ["--max-memory-per-child 204800"],
        [],  # a thread pool has no child processes to replace
    ]
    assert instances[1]["max_tasks_per_child"] == 0


def test_gossip_and_mingle_switched_off_add_their_without_options():
    def options(features):
        return celery_worker_full_instances([{"name": "default"}], DEFAULTS, features)[0]["options"]

    assert options({"gossip": False, "mingle": True}) == ["--without-gossip"]
    assert options({"gossip": False, "mingle": False}) == ["--without-gossip", "--without-mingle"]
    assert options({"gossip": True, "mingle": True}) == []
    assert options(None) == []  # Celery's own defaults: both on


def test_task_events_switched_on_add_the_task_events_option():
    def options(features):
        return celery_worker_full_instances([{"name": "default"}], DEFAULTS, features)[0]["options"]

    assert options({"task_events": True}) == ["--task-events"]
    assert options({"gossip": False, "task_events": True}) == ["--without-gossip", "--task-events"]
    assert options({"task_events": False}) == []


def test_each_unit_reads_its_own_unit_files_and_what_the_host_shares():
    instances = celery_worker_full_instances([{"name": "default"}, {"name": "io"}], DEFAULTS)
    units = celery_worker_unit_inputs(instances, ["/etc/celery-fleet/worker.env"], ["/etc/celery-fleet/beat.env"])
    assert [unit["name"] for unit in units] == [
        "celery-worker-default.service",
        "celery-worker-io.service",
        "celery-beat.service",
    ]
    assert units[0]["inputs"] == [
        "/etc/systemd/system/celery-worker-default.service",
        "/etc/systemd/system/celery-worker-default.service.d",
        "/etc/celery-fleet/worker.env",
    ]
    # Beat's schedule is beat's alone: a new schedule restarts beat, not the workers.
    assert units[2]["inputs"][-2:] == ["/etc/celery-fleet/worker.env", "/etc/celery-fleet/beat.env"]
    assert all("/etc/celery-fleet/beat.env" not in unit["inputs"] for unit in units[:2])


def test_a_host_without_beat_checks_only_its_worker_units():
    instances = celery_worker_full_instances([{"name": "default"}], DEFAULTS)
    units = celery_worker_unit_inputs(instances, [], None)
    assert [unit["name"] for unit in units] == ["celery-worker-default.service"]


def test_a_rebuilt_wheel_of_the_same_version_is_reinstalled_until_the_install_is_recorded():
    local = ["app-1.0-py3-none-any.whl", "client-1.0-py3-none-any.whl"]
    available = {"app-1.0-py3-none-any.whl": "new", "client-1.0-py3-none-any.whl": "same"}
    installed = {"app-1.0-py3-none-any.whl": "old", "client-1.0-py3-none-any.whl": "same"}
    assert celery_worker_wheels_to_reinstall(local, available, installed) == ["app-1.0-py3-none-any.whl"]
    assert celery_worker_wheels_to_reinstall(local, available, available) == []
    assert celery_worker_wheels_to_reinstall(local, available, installed, "/opt/celery-fleet/wheels/") == [
        "/opt/celery-fleet/wheels/app-1.0-py3-none-any.whl"
    ]


def test_a_new_version_is_left_to_the_plain_install():
    local = ["app-2.0-py3-none-any.whl"]
    assert celery_worker_wheels_to_reinstall(local, {local[0]: "x"}, {"app-1.0-py3-none-any.whl": "y"}) == []


def test_a_package_switched_away_from_and_back_is_still_forced_when_rebuilt():
    """A -> B -> rebuilt A of the same version: pip kept the old A in the virtualenv, so the record must too."""
    a, b = "app-1.0-py3-none-any.whl", "acme-1.0-py3-none-any.whl"
    after_a = celery_worker_installed_record(None, {a: "old"}, [a])
    after_b = celery_worker_installed_record(after_a, {b: "b"}, [b])
    assert after_b == {a: "old", b: "b"}
    assert celery_worker_wheels_to_reinstall([a], {a: "new"}, after_b) == [a]
    assert celery_worker_installed_record(after_b, {a: "new"}, [a]) == {a: "new", b: "b"}


def test_the_lock_must_pin_celery_and_what_the_settings_use():
    assert celery_worker_lock_requires("5.7.0", "json", False, ["amqps://b:5671//", "rpc://"]) == [
        {"name": "celery", "version": "5.7.0", "because": "celery_worker_celery_version"}
    ]
    names = [entry["name"] for entry in celery_worker_lock_requires("5.7.0", "msgpack", True, ["amqp://", "redis://r"])]
    assert names == ["celery", "msgpack", "cryptography", "redis"]
    assert [e["name"] for e in celery_worker_lock_requires("5.7.0", "json", False, ["rediss://r:6380/0"])][
        -1
    ] == "redis"
