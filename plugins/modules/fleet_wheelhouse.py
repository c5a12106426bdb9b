#!/usr/bin/python
"""Ansible module fleet_wheelhouse: the wheels a fleet's hosts install, gathered on the control node from a lock.

The workers (roles/celery_worker) and Flower (roles/flower) install from a wheelhouse, never from a package index:
the control node gathers, for each kind of host Python, every distribution the lock pins (each checked against the
lock's hashes) into a cache that it reads by hash, so a run whose lock did not change needs no package index.
Projects on the control node (the tasks package, libraries no index serves) are built into reproducible wheels
(SOURCE_DATE_EPOCH), cached by the content of their source tree, and join the locked set with their own hashes.

Run on the control node (delegate_to: localhost, run_once). Unit tests: tests/test_fleet_wheelhouse.py.
"""

import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import zipfile

DOCUMENTATION = r"""
module: fleet_wheelhouse
short_description: The wheels a fleet's hosts install, gathered on the control node from a lock
description:
  - Reads a lock (pip requirements with hashes, as C(uv pip compile --universal --generate-hashes) writes it) and
    fails, naming the hosts and the command that writes the lock, when a host's Python is older than the lock's
    C(--python-version) or when the lock does not pin a distribution the configuration needs (I(require)).
  - For each kind of host Python (version, ABI, CPU, glibc, as the probe prints it), keeps a pool of wheels in
    I(cache_dir) and finds each locked distribution's wheel there by the lock's sha256 hashes; only the entries no
    pooled wheel matches are fetched (every locked distribution whatever its markers: the host's pip decides them),
    each checked against the lock's hashes, and join the pool only when the whole fetch succeeded. A lock that did
    not change, or changed in one pin, fetches nothing, or one wheel.
  - Builds I(package.project) and I(extra_projects) into wheels (C(pip wheel --no-deps --no-build-isolation)) from
    a private copy without earlier build output, with SOURCE_DATE_EPOCH so that the wheel is byte-for-byte the same
    for the same source; a build is cached by the content of the project's files.
  - Returns, per kind of Python, the wheels a host holds and one tar of them (in I(cache_dir), named by the set's
    digest, written once per set) that a host unpacks when it lacks any of them: one copy instead of one per wheel.
  - Returns the requirements file a host installs with C(pip install --no-index --require-hashes) (the lock plus the
    local wheels by file path and hash) and the names of every distribution in the set, so that a host removes
    the distributions nothing locks (pip never removes a pin the lock dropped).
  - Changes nothing but its cache on the control node, and reports no change.
options:
  lock:
    description: The lock file on the control node.
    type: path
    required: true
  hosts:
    description: Each host's Python, as the probe (the fleet's wheelhouse_probe_argv filter) prints it, by host name.
    type: dict
    required: true
  cache_dir:
    description: The control node's cache directory.
    type: path
    required: true
  install_dir:
    description: The directory on the hosts that the wheels are copied to (named in the requirements file).
    type: path
    required: true
  package:
    description:
      - The tasks package, one of C(project) (a project directory, built here), C(wheel) (a wheel file) or
        C(requirement) (a distribution the lock pins, such as C(acme-tasks==1.4.2)); C(index_url) is a further
        index to fetch the locked wheels from. Omit for a lock that holds everything (Flower).
    type: dict
  extra_projects:
    description: Further project directories built into wheels beside the tasks package.
    type: list
    elements: path
    default: []
  require:
    description: Distributions the lock must pin, each C({name, version (optional), because}).
    type: list
    elements: dict
    default: []
  index_url:
    description: The package index to fetch locked wheels from; empty for pip's configuration.
    type: str
    default: ""
  python:
    description: The control node's Python that runs pip.
    type: path
    required: true
  keep_days:
    description: Cache entries unused for this many days are removed.
    type: int
    default: 30
author: celery-fleet
"""

RETURN = r"""
wheelhouses:
  description: Per kind of Python (its key), the wheels a host holds, C({file name: {src, sha1}}).
  type: dict
  returned: success
archives:
  description: Per kind of Python, the path of one tar (on the control node) of the wheels of I(wheelhouses).
  type: dict
  returned: success
distributions:
  description: The canonical names of the distributions a host installs (every entry of the lock, the local wheels').
  type: list
  returned: success
hosts:
  description: Each host's kind of Python (a key of I(wheelhouses)).
  type: dict
  returned: success
requirements:
  description: What a host installs, with hashes; the local wheels by their path under I(install_dir).
  type: str
  returned: success
local:
  description: The local wheels (tasks package, extra projects), C({file name: sha1}).
  type: dict
  returned: success
deployed:
  description: The tasks package's distribution, C({package, version, wheel}); empty without I(package).
  type: dict
  returned: success
"""

# The oldest manylinux glibc minor version pip is asked for: manylinux_2_17 is manylinux2014, the floor of the
# wheels that Celery's dependencies publish.
OLDEST_GLIBC_MINOR = 17
# The wheels of local projects are stamped with this time (1980-01-01, the oldest a zip file records).
SOURCE_DATE_EPOCH = "315532800"
# Build output and caches that are no part of a project's source.
NOT_SOURCE = ("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".git", ".venv", ".tox")
# Each pool's record of its wheels' digests and last use.
INDEX = ".index.json"
# The cache's directory of the hosts' archives (one tar per wheel set); an archive is rebuilt from the pool in about
# a second, so one unused for a day is removed.
ARCHIVES = "archives"
ARCHIVE_KEEP_DAYS = 1
LOCK_COMMAND = "uv pip compile --universal --python-version 3.11 --generate-hashes requirements.in -o requirements.lock"


class WheelhouseError(Exception):
    """A lock, a host or a build the wheelhouse cannot serve; the message says what to do."""


def python_of(description):
    """A host's Python as the probe prints it ("3.11.2 311 x86_64 2.36") -> its parts and a key naming its kind."""
    parts = str(description).split()
    if len(parts) != 4:
        raise WheelhouseError(f"unexpected description of a Python: {description!r}")
    version, abi, machine, glibc = parts
    return {"version": version, "abi": abi, "machine": machine, "glibc": glibc, "key": "_".join(parts)}


def platform_tags(python):
    """pip's --platform values for a host's Python: every manylinux its glibc runs, and plain linux wheels."""
    major, minor = (int(part) for part in python["glibc"].split(".")[:2])
    machine = python["machine"]
    if major != 2:
        raise WheelhouseError(f"unsupported glibc {python['glibc']}: manylinux tags are defined for glibc 2.x")
    tags = [f"manylinux_2_{n}_{machine}" for n in range(OLDEST_GLIBC_MINOR, minor + 1)]
    return [*tags, f"manylinux2014_{machine}", f"linux_{machine}"]


def pip_download_args(python, dest, requirements, index_url="", extra_index_url=""):
    """pip download's arguments that fetch exactly the locked wheels for one kind of host Python.

    ``index_url`` replaces pip's configured index; ``extra_index_url`` is searched beside it (a private index that
    serves the tasks package).
    """
    args = ["download", "--quiet", "--no-deps", "--require-hashes", "--only-binary=:all:", "--implementation", "cp"]
    args += ["--python-version", python["version"], "--abi", f"cp{python['abi']}"]
    args += ["--dest", dest, "--requirement", requirements]
    args += [f"--platform={tag}" for tag in platform_tags(python)]
    args += ["--index-url", index_url] if index_url else []
    return args + (["--extra-index-url", extra_index_url] if extra_index_url else [])


def lock_entries(lock):
    """A lock's requirements, one per logical line: [(requirement without hashes, markers or "", [hashes])].

    Comments (a "#" at the start or after white space) and pip options (lines starting with "-") are left out.
    """
    entries = []
    for line in str(lock).replace("\\\n", " ").splitlines():
        line = " ".join(re.sub(r"(^|\s)#.*$", "", line).split())
        if not line or line.startswith("-"):
            continue
        requirement, *hashes = line.split(" --hash=")
        requirement, _, markers = requirement.partition(";")
        entries.append((requirement.strip(), markers.strip(), [value.strip() for value in hashes]))
    return entries


def unmarked_entries(entries):
    """Lock entries as pip requirements with their hashes and without markers, for pip download: it would decide
    markers for the control node's Python, not the host's (python_full_version < "3.11.3" differs between 3.11.2 and
    3.11.7); the host's pip installs the ones its own markers select, each checked against the lock's hashes."""
    lines = [" ".join([requirement, *(f"--hash={value}" for value in hashes)]) for requirement, _, hashes in entries]
    return "\n".join(lines) + "\n"


def canonical(name):
    """A distribution's name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins(lock):
    """{canonical name: version} of a lock's name==version requirements (extras left out)."""
    pins = {}
    for requirement, _, _ in lock_entries(lock):
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*(\S+)", requirement)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def requirement_name(requirement):
    """The canonical distribution name of a requirement ("Name[extra]>=1", "name @ url", "name; markers")."""
    return canonical(re.split(r"[\s\[(<>=!~;@]", requirement.strip(), maxsplit=1)[0])


def lock_names(lock):
    """The canonical names of every distribution a lock lists, pinned or by URL (``name @ url``)."""
    return {requirement_name(requirement) for requirement, _, _ in lock_entries(lock)}


def lock_unhashed(lock):
    """The requirements of a lock that carry no hash (pip's --require-hashes refuses them)."""
    return [requirement for requirement, _, hashes in lock_entries(lock) if not hashes]


def lock_python_floor(lock):
    """The oldest Python a universal lock was resolved for (uv's header, --python-version X.Y), as (X, Y), or None."""
    match = re.search(r"^#\s+uv pip compile .*--python-version[ =](\d+)\.(\d+)", str(lock), re.MULTILINE)
    return (int(match.group(1)), int(match.group(2))) if match else None


def lock_command(lock):
    """The command that wrote the lock, as uv's header records it, or the documented one."""
    match = re.search(r"^#\s+(uv pip compile .*)$", str(lock), re.MULTILINE)
    return match.group(1).strip() if match else LOCK_COMMAND


def uncovered_hosts(hosts, floor):
    """The hosts whose Python is older than the lock's floor, {host: version}."""
    if floor is None:
        return {}
    result = {}
    for host, description in sorted(hosts.items()):
        version = python_of(description)["version"]
        if tuple(int(part) for part in version.split(".")[:2]) < floor:
            result[host] = version
    return result


def missing_requirements(pins, require):
    """Messages for the required distributions the lock does not pin (or pins at another version)."""
    messages = []
    for entry in require:
        name, version = canonical(entry["name"]), entry.get("version")
        if name not in pins:
            messages.append(f"{entry['name']} is not locked ({entry['because']})")
        elif version and pins[name] != str(version):
            messages.append(f"{entry['name']} is locked at {pins[name]}, not {version} ({entry['because']})")
    return messages


def wheel_distribution(filename):
    """A wheel's file name (NAME-VERSION(-BUILD)-PY-ABI-PLATFORM.whl) -> (distribution as spelt there, version)."""
    parts = os.path.basename(filename)[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise WheelhouseError(f"{filename} is not a wheel's file name (NAME-VERSION-PY-ABI-PLATFORM.whl)")
    return parts[0], parts[1]


def requirement_pin(requirement):
    """A package requirement "name==version" (or "name") -> (name, version or None)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*(\S+))?\s*", str(requirement))
    if not match:
        raise WheelhouseError(f"celery_worker_package.requirement {requirement!r}: write it as NAME==VERSION")
    return match.group(1), match.group(2)


def install_requirements(lock, local, install_dir):
    """What a host installs: the lock as it is (the host's pip decides its markers) and each local wheel by its path
    on the host and its sha256. ``local``: [(file name, sha256)]."""
    lines = [str(lock).rstrip("\n")] + (["# Built on the control node (celery-fleet's wheelhouse):"] if local else [])
    for filename, sha256 in local:
        name, _ = wheel_distribution(filename)
        lines.append(f"{canonical(name)} @ file://{os.path.join(install_dir, filename)} --hash=sha256:{sha256}")
    return "\n".join(lines) + "\n"


def wheel_requirements(path):
    """The Requires-Dist of a wheel file (its METADATA), as written there."""
    with zipfile.ZipFile(path) as archive:
        metadata = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode("utf-8")
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def unlocked_dependencies(requirements, pins, local_names):
    """The dependencies (Requires-Dist, without those of optional extras) that neither the lock pins nor a local
    wheel provides: a host's pip would refuse them in --require-hashes mode, after the copy; the check names them
    before any host changes."""
    missing = []
    for requirement in requirements:
        name, _, markers = requirement.partition(";")
        if re.search(r"\bextra\s*==", markers):
            continue
        name = requirement_name(name)
        if name not in pins and name not in local_names:
            missing.append(name)
    return missing


def ignored_in_source(directory, names):
    """shutil.copytree's ignore: build output and caches, anywhere in the tree."""
    return {name for name in names if any(fnmatch.fnmatch(name, pattern) for pattern in NOT_SOURCE)}


def source_digest(project):
    """sha256 of a project's source tree: every file's relative path, mode and content, build output left out."""
    digest = hashlib.sha256()
    for directory, subdirectories, files in os.walk(project):
        subdirectories[:] = sorted(set(subdirectories) - ignored_in_source(directory, subdirectories))
        for name in sorted(set(files) - ignored_in_source(directory, files)):
            path = os.path.join(directory, name)
            digest.update(os.path.relpath(path, project).encode() + b"\0")
            digest.update(oct(os.stat(path).st_mode & 0o777).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def file_digests(path):
    """(sha1, sha256) of a file: sha1 is what ansible.builtin.find reports of the copy on a host."""
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()  # noqa: S324 - a content comparison, not a security check
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha1.update(block)
            sha256.update(block)
    return sha1.hexdigest(), sha256.hexdigest()


def wheels_in(directory):
    """{file name: path} of the wheels in a directory."""
    return {name: os.path.join(directory, name) for name in sorted(os.listdir(directory)) if name.endswith(".whl")}


def run(argv, env=None):
    """Run a build or fetch command; its output is the failure's message."""
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise WheelhouseError(f"{' '.join(argv[:4])} ... failed:\n{(result.stderr or result.stdout)[-3000:]}")
    return result


def build_environment():
    return {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def build_project(python, project, cache_dir):
    """The wheel of a project on the control node, from the cache when its source is unchanged -> its path."""
    if not os.path.isfile(os.path.join(project, "pyproject.toml")):
        raise WheelhouseError(f"{project}: no pyproject.toml, so no project to build")
    entry = os.path.join(cache_dir, "local", source_digest(project)[:32])
    if not os.path.isdir(entry):
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        with tempfile.TemporaryDirectory(dir=os.path.dirname(entry), prefix=".build-") as work:
            source = shutil.copytree(project, os.path.join(work, "src"), ignore=ignored_in_source, symlinks=True)
            out = os.path.join(work, "wheel")
            argv = [python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", out]
            run([*argv, source], env=build_environment())
            if len(wheels_in(out)) != 1:
                raise WheelhouseError(f"{project} gave {len(wheels_in(out))} wheels, expected 1")
            try:
                os.rename(out, entry)
            except OSError:
                if not os.path.isdir(entry):
                    raise
                # Another run (a second playbook on this control node) built the same source meanwhile.
    os.utime(entry)
    (path,) = wheels_in(entry).values()
    return path


def pool_of(cache_dir, kind):
    """The cache directory of one kind of host Python: the wheels fetched for it, from every lock so far."""
    return os.path.join(cache_dir, kind["key"])


def pool_index(pool, now=None):
    """{file name: {sha1, sha256, used}} of the wheels in a pool; digests are read from its index file while a
    file's size and modification time are those recorded, so an unchanged pool is not read again."""
    path = os.path.join(pool, INDEX)
    try:
        with open(path, encoding="utf-8") as handle:
            known = json.load(handle)
    except (OSError, ValueError):
        known = {}
    index = {}
    for name, wheel in wheels_in(pool).items():
        stat = os.stat(wheel)
        stamp = [stat.st_size, stat.st_mtime_ns]
        entry = known.get(name) or {}
        if entry.get("stamp") != stamp:
            sha1, sha256 = file_digests(wheel)
            entry = {"stamp": stamp, "sha1": sha1, "sha256": sha256, "used": now or time.time()}
        index[name] = entry
    return index


def write_pool_index(pool, index):
    """Replace a pool's index file in one step."""
    with tempfile.NamedTemporaryFile("w", dir=pool, prefix=".index-", delete=False, encoding="utf-8") as handle:
        json.dump(index, handle, sort_keys=True)
    os.replace(handle.name, os.path.join(pool, INDEX))


def locked_files(entries, index):
    """Which wheels of a pool the lock's entries pin (by sha256) -> (file names, entries no wheel matches)."""
    by_sha256 = {entry["sha256"]: name for name, entry in index.items()}
    names, missing = set(), []
    for requirement, markers, hashes in entries:
        found = {by_sha256[value[len("sha256:") :]] for value in hashes if value[len("sha256:") :] in by_sha256}
        names |= found
        if not found:
            missing.append((requirement, markers, hashes))
    return sorted(names), missing


def fetch(python, kind, entries, pool, index_url, extra_index_url):
    """Fetch the wheels of lock ``entries`` for one kind of host Python into its ``pool``: all of them or none."""
    os.makedirs(pool, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=pool, prefix=".fetch-") as work:
        requirements = os.path.join(work, "requirements.txt")
        with open(requirements, "w", encoding="utf-8") as handle:
            handle.write(unmarked_entries(entries))
        wheels = os.path.join(work, "wheels")
        argv = pip_download_args(kind, wheels, requirements, index_url, extra_index_url)
        run([python, "-m", "pip", *argv], env=build_environment())
        for name, path in wheels_in(wheels).items():
            os.replace(path, os.path.join(pool, name))


def archive(cache_dir, key, wheels):
    """One tar of a wheel set ``wheels`` ({file name: {src, sha1}}) for kind ``key`` -> its path in the cache.

    Named by the digest of the set's names and contents, so it is written once per set (atomically: a run that dies
    leaves no partial archive); members are root's, 0644, stamped SOURCE_DATE_EPOCH, in name order.
    """
    digest = hashlib.sha256(json.dumps(sorted((name, wheel["sha1"]) for name, wheel in wheels.items())).encode())
    directory = os.path.join(cache_dir, ARCHIVES)
    path = os.path.join(directory, f"{key}-{digest.hexdigest()[:32]}.tar")
    if not os.path.isfile(path):
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".tar-", delete=False) as handle:
            try:
                with tarfile.open(fileobj=handle, mode="w", format=tarfile.GNU_FORMAT) as tar:
                    for name in sorted(wheels):
                        member = tar.gettarinfo(wheels[name]["src"], arcname=name)
                        member.uid = member.gid = 0
                        member.uname = member.gname = "root"
                        member.mode = 0o644
                        member.mtime = int(SOURCE_DATE_EPOCH)
                        with open(wheels[name]["src"], "rb") as wheel:
                            tar.addfile(member, wheel)
            except BaseException:
                os.unlink(handle.name)
                raise
        os.replace(handle.name, path)
    os.utime(path)
    return path


def prune(cache_dir, keep_days, now=None):
    """Remove what no run used for keep_days: pooled wheels (by their index's last use), local builds, and
    directories of an earlier layout of the cache; archives unused for ARCHIVE_KEEP_DAYS."""
    now = now or time.time()
    limit = now - keep_days * 86400
    if not os.path.isdir(cache_dir):
        return
    for name in os.listdir(cache_dir):
        path = os.path.join(cache_dir, name)
        if name == ARCHIVES:
            archive_limit = now - min(keep_days, ARCHIVE_KEEP_DAYS) * 86400
            for entry in os.listdir(path):
                if os.stat(os.path.join(path, entry)).st_mtime < archive_limit:
                    os.remove(os.path.join(path, entry))
        elif name == "local":
            for build in os.listdir(path):
                if os.stat(os.path.join(path, build)).st_mtime < limit:
                    shutil.rmtree(os.path.join(path, build), ignore_errors=True)
        elif os.path.isfile(os.path.join(path, INDEX)):
            index = pool_index(path, now)
            stale = [wheel for wheel, entry in index.items() if entry["used"] < limit]
            for wheel in stale:
                os.remove(os.path.join(path, wheel))
                del index[wheel]
            if stale:
                write_pool_index(path, index)
        elif os.path.isdir(path) and os.stat(path).st_mtime < limit:
            shutil.rmtree(path, ignore_errors=True)  # a cache of an earlier layout


def check_lock(path, lock, hosts, package, require):
    """Fail, naming what to do, when the lock does not cover a host's Python, lacks hashes or a needed pin."""
    command = lock_command(lock)
    old = uncovered_hosts(hosts, lock_python_floor(lock))
    if old:
        floor = ".".join(str(part) for part in lock_python_floor(lock))
        raise WheelhouseError(
            f"{path} was resolved for Python {floor} and later; "
            + ", ".join(f"{host} runs {version}" for host, version in old.items())
            + f". Write a lock that covers them (--python-version of the oldest): {command}"
        )
    unhashed = lock_unhashed(lock)
    if unhashed:
        raise WheelhouseError(f"{path}: no hashes for {', '.join(unhashed)}; write it with: {command}")
    require = list(require)
    if package.get("requirement"):
        name, version = requirement_pin(package["requirement"])
        require.append({"name": name, "version": version, "because": "celery_worker_package.requirement"})
    missing = missing_requirements(lock_pins(lock), require)
    if missing:
        raise WheelhouseError(f"{path}: {'; '.join(missing)}. Add it and write the lock again: {command}")


def fetched_wheels(params, lock, package):
    """{kind of Python: {file name: {src, sha1}}}: the locked wheels for each kind of host Python, from its pool in
    the cache; only the entries no pooled wheel matches are fetched (none when the lock did not change)."""
    hosts = params["hosts"]
    entries = lock_entries(lock)
    fetched = {}
    for description in sorted(set(hosts.values())):
        kind = python_of(description)
        pool = pool_of(params["cache_dir"], kind)
        os.makedirs(pool, exist_ok=True)
        index = pool_index(pool)
        names, missing = locked_files(entries, index)
        if missing:
            try:
                fetch(params["python"], kind, missing, pool, params["index_url"], package.get("index_url") or "")
            except WheelhouseError as error:
                users = sorted(host for host, other in hosts.items() if python_of(other)["key"] == kind["key"])
                raise WheelhouseError(
                    f"the locked wheels for {', '.join(users)} (Python {kind['version']}, {kind['machine']}, glibc "
                    f"{kind['glibc']}) could not be fetched. If the lock does not cover this Python or platform, "
                    f"write it again for it: {lock_command(lock)}\n{error}"
                ) from error
            index = pool_index(pool)
            names, missing = locked_files(entries, index)
            if missing:
                raise WheelhouseError(f"no wheel matches the lock's hashes of {', '.join(m[0] for m in missing)}")
        now = time.time()
        for name in names:
            index[name]["used"] = now
        write_pool_index(pool, index)
        fetched[kind["key"]] = {name: {"src": os.path.join(pool, name), "sha1": index[name]["sha1"]} for name in names}
    return fetched


def local_wheels(params, package):
    """The paths of the wheels made or taken on the control node: the tasks package's first, then the extras'."""
    paths = []
    if package.get("project"):
        paths.append(build_project(params["python"], package["project"], params["cache_dir"]))
    elif package.get("wheel"):
        wheel_distribution(package["wheel"])
        paths.append(package["wheel"])
    extras = params["extra_projects"]
    return paths + [build_project(params["python"], project, params["cache_dir"]) for project in extras]


def deployed_package(package, local_names, fetched_names):
    """The tasks package's wheel, distribution and version: its local wheel, or the locked one it names."""
    if package.get("project") or package.get("wheel"):
        wheel = local_names[0]
    elif package.get("requirement"):
        name = canonical(requirement_pin(package["requirement"])[0])
        wheel = next((found for found in fetched_names if canonical(wheel_distribution(found)[0]) == name), None)
        if wheel is None:
            raise WheelhouseError(f"no wheel of {package['requirement']} among the locked wheels")
    else:
        return {}
    name, version = wheel_distribution(wheel)
    return {"wheel": wheel, "package": name, "version": version}


def gather(params):
    """The module's work, without Ansible: -> its result (see RETURN)."""
    with open(params["lock"], encoding="utf-8") as handle:
        lock = handle.read()
    package = params.get("package") or {}
    check_lock(params["lock"], lock, params["hosts"], package, params["require"])
    local = {}
    hashes = []
    paths = local_wheels(params, package)
    local_names = {canonical(wheel_distribution(path)[0]) for path in paths}
    for path in paths:
        missing = unlocked_dependencies(wheel_requirements(path), lock_pins(lock), local_names)
        if missing:
            raise WheelhouseError(
                f"{os.path.basename(path)} depends on {', '.join(missing)}, which {params['lock']} does not lock. Lock "
                f"the package's dependencies (uv pip compile accepts its pyproject.toml): {lock_command(lock)}"
            )
        sha1, sha256 = file_digests(path)
        local[os.path.basename(path)] = {"src": path, "sha1": sha1}
        hashes.append((os.path.basename(path), sha256))
    fetched = fetched_wheels(params, lock, package)
    wheelhouses = {key: {**wheels, **local} for key, wheels in fetched.items()}
    any_kind = fetched[sorted(fetched)[0]] if fetched else {}
    archives = {key: archive(params["cache_dir"], key, wheels) for key, wheels in wheelhouses.items()}
    prune(params["cache_dir"], params["keep_days"])
    return {
        "wheelhouses": wheelhouses,
        "archives": archives,
        "distributions": sorted(lock_names(lock) | local_names),
        "hosts": {host: python_of(description)["key"] for host, description in params["hosts"].items()},
        "requirements": install_requirements(lock, hashes, params["install_dir"]),
        "local": {name: value["sha1"] for name, value in local.items()},
        "deployed": deployed_package(package, [name for name, _ in hashes], list(any_kind)),
    }


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "lock": {"type": "path", "required": True},
            "hosts": {"type": "dict", "required": True},
            "cache_dir": {"type": "path", "required": True},
            "install_dir": {"type": "path", "required": True},
            "package": {"type": "dict"},
            "extra_projects": {"type": "list", "elements": "path", "default": []},
            "require": {"type": "list", "elements": "dict", "default": []},
            "index_url": {"type": "str", "default": ""},
            "python": {"type": "path", "required": True},
            "keep_days": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    try:
        result = gather(module.params)
    except (WheelhouseError, OSError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
