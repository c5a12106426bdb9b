"""The wheelhouse's filters (plugins/filter/wheelhouse.py); the wheelhouse program's own tests are
tests/test_fleet_wheelhouse.py."""

import json
import subprocess
import sys

from wheelhouse import (
    wheelhouse_checksums,
    wheelhouse_package_modules,
    wheelhouse_probe_argv,
    wheelhouse_to_copy,
    wheelhouse_unlocked,
)


def test_the_probe_prints_version_abi_cpu_and_glibc():
    line = subprocess.run(wheelhouse_probe_argv(sys.executable), capture_output=True, text=True, check=True).stdout
    version, abi, machine, glibc = line.split()
    assert version == ".".join(str(part) for part in sys.version_info[:3])
    assert abi == f"{sys.version_info[0]}{sys.version_info[1]}"
    assert machine and glibc.startswith("2.")


def test_checksums_are_keyed_by_file_name():
    files = [{"path": "/w/a-1-py3-none-any.whl", "checksum": "x"}, {"path": "/h/b-2-py3-none-any.whl", "checksum": "y"}]
    assert wheelhouse_checksums(files) == {"a-1-py3-none-any.whl": "x", "b-2-py3-none-any.whl": "y"}


def test_a_host_gets_the_wheels_it_lacks_or_holds_with_other_content():
    wheels = {
        "a.whl": {"src": "/c/a.whl", "sha1": "1"},
        "b.whl": {"src": "/c/b.whl", "sha1": "2"},
        "c.whl": {"sha1": "3"},
    }
    kept = [
        {"path": "/h/a.whl", "checksum": "1"},
        {"path": "/h/b.whl", "checksum": "old"},
        {"path": "/h/z.whl", "checksum": "9"},
    ]
    assert wheelhouse_to_copy(wheels, kept) == ["b.whl", "c.whl"]
    assert wheelhouse_to_copy(wheels, [{"path": f"/h/{n}", "checksum": w["sha1"]} for n, w in wheels.items()]) == []


def test_a_packages_modules_leave_caches_and_subdirectories_out(tmp_path):
    package = tmp_path / "celery_fleet_client"
    (package / "__pycache__").mkdir(parents=True)
    for name in ("config.py", "__init__.py", "__pycache__/config.cpython-311.pyc", "notes.txt"):
        (package / name).write_text("")
    assert wheelhouse_package_modules([str(package) + "/"]) == [
        {"package": "celery_fleet_client", "src": str(package / "__init__.py")},
        {"package": "celery_fleet_client", "src": str(package / "config.py")},
    ]


def test_what_the_virtualenv_holds_beyond_the_set_is_named_and_its_own_tools_are_kept():
    pip_list = json.dumps(
        [
            {"name": "celery", "version": "5.7.0"},
            {"name": "Async_Timeout", "version": "5.0.1"},
            {"name": "six", "version": "1.17.0"},  # a pin the new lock dropped
            {"name": "pip", "version": "23.0.1"},
            {"name": "setuptools", "version": "66.1.1"},
        ]
    )
    assert wheelhouse_unlocked(pip_list, ["async-timeout", "celery"]) == ["six"]
    assert wheelhouse_unlocked("", ["celery"]) == []  # check mode: pip list did not run
