"""Filters of the celery_worker role: worker instances and what each unit reads (the wheelhouse's platform tags are
the fleet's plugins/filter/wheelhouse.py).

Used by the role's vars/main.yml and tasks/install.yml; unit tests in tests/test_celery_worker_filters.py.
"""

# Settings that recycle a prefork pool's processes: 0 turns one off (Celery's default), so an instance may set 0
# where the role's default is a number. Other pools have no child processes; their units do not get these.
RECYCLING = ("max_tasks_per_child", "max_memory_per_child")
# Worker features that cost the broker more as the fleet grows (docs/production.md, "Sizing"): on by default in
# Celery, each may be switched off for every worker of the host.
FEATURES = ("gossip", "mingle")


def _setting(instance, key, defaults):
    value = instance.get(key)
    if key in RECYCLING:
        return defaults.get(key, 0) if value in (None, "") else value
    return value or defaults[key]


def celery_worker_full_instances(instances, defaults, features=None):
    """The instances with every per-instance setting filled in from the role's defaults (an empty value counts unset).

    ``defaults``: concurrency, pool, loglevel, time_limit, soft_time_limit, and optionally max_tasks_per_child and
    max_memory_per_child (KiB; 0: off, and an instance's 0 overrides the default). The unit's stop timeout is the
    hard time limit plus 30 s, so a warm shutdown lets a running task finish. ``features``: gossip and mingle
    (default on), each off adds its ``--without-`` option; task_events (default off), on adds ``--task-events``
    (the events Flower shows). ``options`` are the unit's further command-line options.
    """
    features = features or {}
    result = []
    for instance in instances:
        settings = {key: _setting(instance, key, defaults) for key in defaults}
        options = [
            f"--{key.replace('_', '-')} {int(settings[key])}"
            for key in RECYCLING
            if settings["pool"] == "prefork" and int(settings.get(key) or 0) > 0
        ]
        options += [f"--without-{feature}" for feature in FEATURES if not features.get(feature, True)]
        options += ["--task-events"] if features.get("task_events", False) else []
        result.append(
            {
                "name": instance["name"],
                "unit": f"celery-worker-{instance['name']}.service",
                "queues": [queue for queue in instance.get("queues") or [] if queue],
                **settings,
                "stop_timeout": int(settings["time_limit"]) + 30,
                "options": options,
            }
        )
    return result


def celery_worker_unit_inputs(instances, shared_inputs, beat_inputs=None):
    """What each unit reads when it starts, for the restart decision (plugins/modules/systemd_stale_units.py).

    ``instances``: the full instances (``celery_worker_full_instances``); ``shared_inputs``: the paths every unit
    reads (env file, certificates, the virtualenv's site-packages); ``beat_inputs``: beat's own paths beside those,
    or None where this host runs no beat. Each unit also reads its unit file and its drop-in directory.
    -> [{"name": unit, "inputs": [paths]}], worker units first, then beat.
    """

    def unit(name, inputs):
        return {"name": name, "inputs": [f"/etc/systemd/system/{name}", f"/etc/systemd/system/{name}.d", *inputs]}

    units = [unit(instance["unit"], shared_inputs) for instance in instances]
    if beat_inputs is not None:
        units.append(unit("celery-beat.service", [*shared_inputs, *beat_inputs]))
    return units


def celery_worker_wheels_to_reinstall(local_wheels, available, installed, directory=""):
    """The local wheels (the tasks package's, the extra projects') to reinstall with --force-reinstall, as paths
    in ``directory`` (the host's wheelhouse) or file names without it.

    ``available``: file name -> checksum of the wheels in the host's wheelhouse; ``installed``: the same for the
    wheels the last complete install put into the virtualenv. A wheel whose name (so its version) was installed
    with other content is "already satisfied" for pip and must be forced; a new name is a new version, which the
    plain install upgrades to. Read from what the host recorded, so an install that was interrupted after the new
    wheel was copied is finished by the next run.
    """
    names = [name for name in local_wheels if name in installed and installed[name] != available[name]]
    return [f"{directory.rstrip('/')}/{name}" if directory else name for name in names]


def celery_worker_installed_record(recorded, available, local_wheels):
    """What the local fact records as installed after an install: ``recorded`` (the fact's record so far) updated with
    the ``local_wheels`` just installed (their checksums from ``available``).

    Earlier entries stay: pip never removes a distribution from the virtualenv when the tasks package changes, so a
    host that goes from package A to B and back to a rebuilt A of the same version still has the old A installed,
    and only this record tells celery_worker_wheels_to_reinstall that it must be forced.
    """
    return {**(recorded or {}), **{name: available[name] for name in local_wheels}}


def celery_worker_lock_requires(version, serializer, signing, urls):
    """What the workers' lock must pin for these settings, as fleet_wheelhouse's ``require``: Celery at
    ``version``, msgpack for the msgpack serializer, cryptography for signed messages (Celery's auth), redis for a
    redis:// or rediss:// broker or result backend (``urls``)."""
    requires = [{"name": "celery", "version": version, "because": "celery_worker_celery_version"}]
    if serializer == "msgpack":
        requires.append({"name": "msgpack", "because": "celery_worker_serializer is msgpack"})
    if signing:
        requires.append({"name": "cryptography", "because": "celery_worker_signing"})
    if any(str(url).startswith(("redis://", "rediss://")) for url in urls):
        requires.append({"name": "redis", "because": "a redis:// broker or result backend"})
    return requires


class FilterModule:
    """The celery_worker role's filters."""

    def filters(self):
        return {
            name: function
            for name, function in globals().items()
            if name.startswith("celery_worker_") and callable(function)
        }
