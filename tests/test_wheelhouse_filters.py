"""The wheelhouse's filters (plugins/filter/wheelhouse.py)."""

import subprocess
import sys

import pytest
from wheelhouse import (
    wheelhouse_pip_download_args,
    wheelhouse_platform_tags,
    wheelhouse_probe_argv,
    wheelhouse_python,
    wheelhouse_uv_compile_args,
)

BOOKWORM = wheelhouse_python("3.11.2 311 x86_64 2.36")


def test_the_probe_describes_this_python_in_the_parts_the_filters_read():
    line = subprocess.run(wheelhouse_probe_argv(sys.executable), capture_output=True, text=True, check=True).stdout
    python = wheelhouse_python(line.strip())
    assert python["version"] == ".".join(str(part) for part in sys.version_info[:3])
    assert python["abi"] == f"{sys.version_info[0]}{sys.version_info[1]}"
    assert wheelhouse_platform_tags(python)[-1].startswith("linux_")


def test_the_probe_line_parses_into_parts_and_a_key():
    assert BOOKWORM == {
        "version": "3.11.2",
        "abi": "311",
        "machine": "x86_64",
        "glibc": "2.36",
        "key": "3.11.2_311_x86_64_2.36",
    }


def test_platform_tags_cover_every_manylinux_the_glibc_runs():
    tags = wheelhouse_platform_tags(BOOKWORM)
    assert tags[0] == "manylinux_2_17_x86_64"
    assert tags[-3:] == ["manylinux_2_36_x86_64", "manylinux2014_x86_64", "linux_x86_64"]
    assert len(tags) == 36 - 17 + 1 + 2
    assert "manylinux_2_37_x86_64" not in tags  # a wheel built for a newer glibc would not load


def test_platform_tags_refuse_a_glibc_they_cannot_describe():
    with pytest.raises(ValueError, match=r"glibc 3\.1"):
        wheelhouse_platform_tags(dict(BOOKWORM, glibc="3.1"))


def test_pip_download_asks_for_the_hosts_python_not_the_controllers():
    args = wheelhouse_pip_download_args(wheelhouse_python("3.13.5 313 aarch64 2.41"), "/w", "/r.txt")
    assert args[:9] == [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        "3.13.5",
        "--abi",
        "cp313",
        "--dest",
        "/w",
    ]
    assert "--platform=manylinux_2_41_aarch64" in args
    assert args[args.index("--requirement") + 1] == "/r.txt"


def test_uv_resolves_for_the_hosts_interpreter():
    assert wheelhouse_uv_compile_args(BOOKWORM, "/out.txt") == [
        "--python-version=3.11.2",
        "--python-platform=x86_64-unknown-linux-gnu",
        "--output-file=/out.txt",
    ]
