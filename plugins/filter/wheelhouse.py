"""The wheelhouse's filters: what runs on a host around the wheelhouse that the control node gathers
(plugins/modules/fleet_wheelhouse.py): the probe of the host's Python, and which wheels a host lacks.

Used by roles/celery_worker and roles/flower; unit tests in tests/test_wheelhouse_filters.py.
"""

import glob
import json
import os
import re

# A virtualenv's own tools: `python3 -m venv` installs them, no lock pins them, and pip needs them.
VENV_TOOLS = frozenset({"pip", "setuptools", "wheel"})

# What the probe prints about a host's Python: version, ABI (cache tag), CPU and glibc; fleet_wheelhouse reads it.
PROBE = (
    "import platform, sys; print(platform.python_version(), sys.implementation.cache_tag.split('-')[1], "
    "platform.machine(), platform.libc_ver()[1])"
)


def wheelhouse_probe_argv(python):
    """The command (argv) that describes the host's ``python`` for the wheelhouse (fleet_wheelhouse's hosts)."""
    return [python, "-c", PROBE]


def wheelhouse_checksums(files):
    """ansible.builtin.find's files (with get_checksum) -> {file name: checksum}."""
    return {os.path.basename(entry["path"]): entry["checksum"] for entry in files}


def wheelhouse_to_copy(wheels, kept_files):
    """The wheels a host lacks or holds with other content: ``wheels`` is fleet_wheelhouse's wheelhouse for the
    host ({file name: {src, sha1}}), ``kept_files`` what ansible.builtin.find (get_checksum) found there. When any,
    the host unpacks the set's archive (one copy: a copy task per wheel costs a round trip, and a wheelhouse has
    dozens of wheels)."""
    kept = wheelhouse_checksums(kept_files)
    return sorted(name for name, wheel in wheels.items() if kept.get(name) != wheel["sha1"])


def wheelhouse_unlocked(pip_list, distributions):
    """The distributions a virtualenv holds that its wheel set does not: ``pip_list`` is what ``pip list --format
    json`` printed there (empty when it did not run: check mode), ``distributions`` fleet_wheelhouse's canonical
    names of the set. pip never removes a pin that a new lock dropped, nor what someone installed by hand."""
    installed = json.loads(pip_list) if pip_list else []
    return sorted(
        entry["name"]
        for entry in installed
        if re.sub(r"[-_.]+", "-", entry["name"]).lower() not in set(distributions) | VENV_TOOLS
    )


def wheelhouse_package_modules(packages):
    """Python package directories on the control node -> their modules, ``[{"package": name, "src": path}]``.

    Module by module: a source tree may hold __pycache__ or test output, which is no part of the package.
    """
    return [
        {"package": os.path.basename(os.path.normpath(package)), "src": path}
        for package in packages
        for path in sorted(glob.glob(os.path.join(package, "*.py")))
    ]


class FilterModule:
    """The wheelhouse's filters."""

    def filters(self):
        return {name: function for name, function in globals().items() if name.startswith("wheelhouse_")}
