"""Filters of the celery_worker role: worker instances, what to restart, and the wheelhouse's platform tags.

Used by the role's vars/main.yml and tasks/install.yml; unit tests in tests/test_celery_worker_filters.py.
"""

# The oldest manylinux glibc minor version pip is asked for: manylinux_2_17 is manylinux2014, the floor of the
# wheels that Celery's dependencies publish.
OLDEST_GLIBC_MINOR = 17


def celery_worker_python(description):
    """A worker's Python as the probe in tasks/install.yml prints it ("3.11.2 311 x86_64 2.36") -> its parts.

    ``key`` names the host's wheelhouse directory on the control node.
    """
    version, abi, machine, glibc = str(description).split()
    return {"version": version, "abi": abi, "machine": machine, "glibc": glibc, "key": "_".join(description.split())}


def celery_worker_platform_tags(python):
    """pip's --platform values for a worker (from ``celery_worker_python``): every manylinux its glibc runs, linux.

    pip download takes wheels for exactly the platforms it is given, so the list names each manylinux_2_N from 2_17
    up to the worker's own glibc, manylinux2014 (the same as 2_17, older name) and plain linux wheels.
    """
    major, minor = (int(part) for part in python["glibc"].split(".")[:2])
    machine = python["machine"]
    if major != 2:
        raise ValueError(f"unsupported glibc {python['glibc']}: manylinux tags are defined for glibc 2.x")
    tags = [f"manylinux_2_{n}_{machine}" for n in range(OLDEST_GLIBC_MINOR, minor + 1)]
    return [*tags, f"manylinux2014_{machine}", f"linux_{machine}"]


def celery_worker_pip_download_args(python, dest, requirements):
    """pip download's arguments that gather exactly the locked wheels for one kind of worker Python."""
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python["version"]]
    args += ["--abi", f"cp{python['abi']}", "--dest", dest, "--requirement", requirements]
    return args + [f"--platform={tag}" for tag in celery_worker_platform_tags(python)]


def celery_worker_uv_compile_args(python, output_file):
    """uv pip compile's arguments that resolve the dependencies for one kind of worker Python (not the controller's)."""
    return [
        f"--python-version={python['version']}",
        f"--python-platform={python['machine']}-unknown-linux-gnu",
        f"--output-file={output_file}",
    ]


def celery_worker_full_instances(instances, defaults):
    """The instances with every per-instance setting filled in from the role's defaults (an empty value counts unset).

    ``defaults``: concurrency, pool, loglevel, time_limit, soft_time_limit. The unit's stop timeout is the hard time
    limit plus 30 s, so a warm shutdown lets a running task finish.
    """
    result = []
    for instance in instances:
        settings = {key: instance.get(key) or defaults[key] for key in defaults}
        result.append(
            {
                "name": instance["name"],
                "unit": f"celery-worker-{instance['name']}.service",
                "queues": [queue for queue in instance.get("queues") or [] if queue],
                **settings,
                "stop_timeout": int(settings["time_limit"]) + 30,
            }
        )
    return result


def celery_worker_restart_units(started_results, unit_results, shared_change):
    """The units to restart: every running one when something they share changed, else those whose unit changed.

    ``started_results``/``unit_results``: the registered loop results of starting the units and writing them. A
    unit that was only just started (changed) already runs the new state and is left alone.
    """
    changed_units = {result["item"]["unit"] for result in unit_results if result.get("changed")}
    units = []
    for started in started_results:
        unit = started["item"]["unit"]
        if not started.get("changed") and (shared_change or unit in changed_units):
            units.append(unit)
    return units


class FilterModule:
    """The celery_worker role's filters."""

    def filters(self):
        return {
            name: function
            for name, function in globals().items()
            if name.startswith("celery_worker_") and callable(function)
        }
