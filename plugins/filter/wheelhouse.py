"""The wheelhouse's filters: which wheels a host's Python can install, so that the control node fetches exactly those
(the workers' tasks package and its dependencies, Flower on the monitor host). Hosts need no package index.

Used by roles/celery_worker and roles/flower; unit tests in tests/test_wheelhouse_filters.py.
"""

import glob
import os

# What the probe prints about a host's Python: version, ABI (cache tag), CPU and glibc.
PROBE = (
    "import platform, sys; print(platform.python_version(), sys.implementation.cache_tag.split('-')[1], "
    "platform.machine(), platform.libc_ver()[1])"
)


def wheelhouse_probe_argv(python):
    """The command (argv) that describes the host's ``python`` for ``wheelhouse_python``."""
    return [python, "-c", PROBE]


# The oldest manylinux glibc minor version pip is asked for: manylinux_2_17 is manylinux2014, the floor of the
# wheels that Celery's dependencies publish.
OLDEST_GLIBC_MINOR = 17


def wheelhouse_python(description):
    """A host's Python as ``wheelhouse_probe_argv`` prints it ("3.11.2 311 x86_64 2.36") -> its parts.

    ``key`` names the host's wheelhouse directory on the control node.
    """
    version, abi, machine, glibc = str(description).split()
    return {"version": version, "abi": abi, "machine": machine, "glibc": glibc, "key": "_".join(description.split())}


def wheelhouse_platform_tags(python):
    """pip's --platform values for a worker (from ``wheelhouse_python``): every manylinux its glibc runs, linux.

    pip download takes wheels for exactly the platforms it is given, so the list names each manylinux_2_N from 2_17
    up to the worker's own glibc, manylinux2014 (the same as 2_17, older name) and plain linux wheels.
    """
    major, minor = (int(part) for part in python["glibc"].split(".")[:2])
    machine = python["machine"]
    if major != 2:
        raise ValueError(f"unsupported glibc {python['glibc']}: manylinux tags are defined for glibc 2.x")
    tags = [f"manylinux_2_{n}_{machine}" for n in range(OLDEST_GLIBC_MINOR, minor + 1)]
    return [*tags, f"manylinux2014_{machine}", f"linux_{machine}"]


def wheelhouse_pip_download_args(python, dest, requirements):
    """pip download's arguments that gather exactly the locked wheels for one kind of worker Python."""
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python["version"]]
    args += ["--abi", f"cp{python['abi']}", "--dest", dest, "--requirement", requirements]
    return args + [f"--platform={tag}" for tag in wheelhouse_platform_tags(python)]


def wheelhouse_uv_compile_args(python, output_file):
    """uv pip compile's arguments that resolve the dependencies for one kind of worker Python (not the controller's)."""
    return [
        f"--python-version={python['version']}",
        f"--python-platform={python['machine']}-unknown-linux-gnu",
        f"--output-file={output_file}",
    ]


def wheelhouse_unmarked(lock):
    """A lock with hashes (pip requirements, as ``uv pip compile --universal --generate-hashes`` writes it) without
    its environment markers: every locked distribution, one requirement per line with its hashes.

    pip download decides markers for the control node's interpreter, not the host's (python_full_version <
    "3.11.3" differs between 3.11.2 and 3.11.7), so the wheelhouse takes every locked distribution; the host's pip
    then installs from it the ones its own markers select, each checked against the lock's hashes.
    """
    logical = str(lock).replace("\\\n", " ")
    requirements = []
    for line in logical.splitlines():
        line = " ".join(line.split())
        if not line or line.startswith("#"):
            continue
        requirement, _, hashes = line.partition(" --hash=")
        requirement = requirement.split(";", 1)[0].strip()
        requirements.append(f"{requirement} --hash={hashes}".strip() if hashes else requirement)
    return "\n".join(requirements) + "\n"


def wheelhouse_checksums(files):
    """ansible.builtin.find's files (with get_checksum) -> {file name: checksum}: which wheels a host lacks or holds
    with other content than the control node's."""
    return {os.path.basename(entry["path"]): entry["checksum"] for entry in files}


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
