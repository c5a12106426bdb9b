#!/usr/bin/python
"""Ansible module systemd_stale_units: which running systemd units started before their inputs last changed.

The restart decision of every unit the fleet restarts (worker groups, beat, RabbitMQ, Redis). It compares what a
running unit started from with what is installed now, on the host itself: a unit is stale when its main process
started before the newest of its inputs was written, or when systemd holds an older definition of it than its unit
files (including a drop-in file it has not loaded: systemd does not flag a drop-in directory created after it
loaded the unit). Nothing about the decision lives in the run that wrote the files, so a run that failed or was
killed between writing a unit's inputs and restarting it leaves the restart to the next run (docs/reliability.md).

Unit tests: tests/test_systemd_stale_units.py.
"""

import glob
import os
from datetime import UTC, datetime

DOCUMENTATION = r"""
module: systemd_stale_units
short_description: Which running systemd units started before their inputs last changed
description:
  - For each unit, reads its state, its main process's start time and whether systemd needs a daemon-reload for
    it (C(systemctl show)), and the modification times of its inputs.
  - A unit is stale when it is active (or activating, reloading) and either its main process started before the
    newest input was modified, or systemd reports C(NeedDaemonReload=yes) for it, or a drop-in file of it under
    C(/etc/systemd/system) or C(/run/systemd/system) is not among the drop-ins systemd loaded (C(DropInPaths)):
    systemd caches which unit directories exist, so a drop-in directory created after it loaded the unit does not
    make it report C(NeedDaemonReload).
  - A unit that is not running is never stale: starting it reads the inputs as they are.
  - Reads only; never reports a change; supports check mode.
options:
  units:
    description:
      - The units and the paths each one reads at start.
      - A path may be a glob (the first match counts). A path that does not exist is left out.
      - A directory counts with its own modification time, which changes when an entry is added, removed or
        replaced (Ansible writes every file by renaming a new one into place).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The unit's name, with its suffix (C(celery-worker-default.service)).
        type: str
        required: true
      inputs:
        description: Paths of the files and directories the unit reads when it starts.
        type: list
        elements: path
        default: []
      applied_marker:
        description:
          - A file the unit touches whenever it applies its inputs (on start and on reload), whose modification
            time then counts instead of the main process's start time. For a unit that is reloaded rather than
            restarted, such as a oneshot that loads firewall rules; a missing marker makes a running unit stale.
        type: path
author: celery-fleet
"""

RETURN = r"""
stale:
  description: The units to restart, in the order given.
  returned: always
  type: list
  elements: str
daemon_reload:
  description: Whether systemd holds an older definition of any of the units than their unit files and drop-ins.
  returned: always
  type: bool
units:
  description: Per unit, what the decision read (state, start time, newest input, its time, why it is stale).
  returned: always
  type: dict
"""

# What `systemctl show` is asked for; the order of the blocks it prints follows the order of the units.
PROPERTIES = ("Id", "ActiveState", "ExecMainStartTimestamp", "NeedDaemonReload", "DropInPaths")
# Where the fleet's roles write drop-ins (and where an operator's runtime ones go).
DROPIN_DIRS = ("/etc/systemd/system", "/run/systemd/system")
# A unit in these states runs a main process that read its inputs when it started.
RUNNING_STATES = ("active", "activating", "reloading")


def parse_show(output):
    """`systemctl show -p ... UNIT...` output -> one dict of properties per unit, in order."""
    blocks = []
    for chunk in output.strip().split("\n\n"):
        properties = {}
        for line in chunk.splitlines():
            key, _, value = line.partition("=")
            properties[key] = value
        if properties:
            blocks.append(properties)
    return blocks


def parse_timestamp(value):
    """systemd's timestamp with --timestamp=us+utc ('Sun 2026-12-06 05:12:01.123456 UTC') -> seconds since the epoch.

    None when the unit has no such timestamp (never started: the value is empty or 'n/a').
    """
    parts = value.split()
    if len(parts) != 4 or parts[3] != "UTC":
        return None
    moment = datetime.strptime(f"{parts[1]} {parts[2]}", "%Y-%m-%d %H:%M:%S.%f")
    return moment.replace(tzinfo=UTC).timestamp()


def newest_input(paths, mtime=os.path.getmtime, expand=glob.glob):
    """The most recently modified of ``paths`` (globs allowed; missing ones left out): (path, mtime) or (None, None)."""
    newest = (None, None)
    for pattern in paths:
        matches = sorted(expand(pattern)) if glob.has_magic(pattern) else [pattern]
        for path in matches[:1]:
            try:
                modified = mtime(path)
            except FileNotFoundError:
                continue
            if newest[1] is None or modified > newest[1]:
                newest = (path, modified)
    return newest


def unloaded_dropins(name, state, expand=glob.glob):
    """The drop-in files of unit ``name`` on disk (DROPIN_DIRS) that systemd has not loaded (its DropInPaths)."""
    loaded = set(state.get("DropInPaths", "").split())
    on_disk = sorted(path for directory in DROPIN_DIRS for path in expand(f"{directory}/{name}.d/*.conf"))
    return [path for path in on_disk if path not in loaded]


def needs_daemon_reload(state, unloaded):
    """Whether systemd holds an older definition of a unit than its files: its own flag, or drop-ins not loaded."""
    return state.get("NeedDaemonReload") == "yes" or bool(unloaded)


def decide(state, newest, applied=False, unloaded=()):
    """Whether a unit is stale, and why: ``state`` is its `systemctl show` block, ``newest`` its (path, mtime).

    ``applied``: False to compare with the main process's start time; else the time the unit last applied its
    inputs by its own record (its marker's mtime), None when it has no record. ``unloaded``: its drop-in files that
    systemd has not loaded. Returns None when the unit runs what is installed (or does not run), else the reason as
    a sentence.
    """
    if state.get("ActiveState") not in RUNNING_STATES:
        return None
    if state.get("NeedDaemonReload") == "yes":
        return "its unit files changed since systemd loaded them"
    if unloaded:
        return f"its drop-in {unloaded[0]} was written after systemd loaded it"
    if applied is False:
        since, when = parse_timestamp(state.get("ExecMainStartTimestamp", "")), "its main process started"
    else:
        since, when = applied, "it last applied its inputs"
    path, modified = newest
    if path is None:
        return None
    if since is None or modified > since:
        return f"{path} changed after {when}"
    return None


def applied_time(marker, mtime=os.path.getmtime):
    """False when the unit has no marker (its start time counts), else the marker's mtime, None if it is missing."""
    if not marker:
        return False
    try:
        return mtime(marker)
    except FileNotFoundError:
        return None


def stale_units(units, states, newest_of, applied_of=applied_time, dropins_of=unloaded_dropins):
    """The decision for every unit: ``states`` are their `systemctl show` blocks in the same order.

    ``newest_of(paths)`` -> (path, mtime); ``applied_of(marker)`` -> ``applied`` of ``decide``; ``dropins_of(name,
    state)`` -> its drop-in files systemd has not loaded. Returns the module's result (stale, daemon_reload, units).
    """
    if len(states) != len(units):
        raise ValueError(f"systemctl show described {len(states)} units, expected {len(units)}")
    report, stale, daemon_reload = {}, [], False
    for unit, state in zip(units, states, strict=True):
        newest = newest_of(unit.get("inputs") or [])
        unloaded = dropins_of(unit["name"], state)
        reason = decide(state, newest, applied_of(unit.get("applied_marker")), unloaded)
        if reason:
            stale.append(unit["name"])
        daemon_reload = daemon_reload or needs_daemon_reload(state, unloaded)
        report[unit["name"]] = {
            "active_state": state.get("ActiveState", ""),
            "started": state.get("ExecMainStartTimestamp", ""),
            "newest_input": newest[0],
            "newest_input_time": newest[1],
            "unloaded_dropins": unloaded,
            "stale": reason,
        }
    return {"stale": stale, "daemon_reload": daemon_reload, "units": report}


def main():
    # Imported here: the unit tests import this file without Ansible.
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec={
            "units": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "inputs": {"type": "list", "elements": "path", "default": []},
                    "applied_marker": {"type": "path"},
                },
            }
        },
        supports_check_mode=True,
    )
    units = module.params["units"]
    if not units:
        module.exit_json(changed=False, stale=[], daemon_reload=False, units={})
    systemctl = module.get_bin_path("systemctl", required=True)
    command = [systemctl, "show", "--timestamp=us+utc", "--property", ",".join(PROPERTIES)]
    rc, out, err = module.run_command(
        command + [unit["name"] for unit in units], environ_update={"LC_ALL": "C", "SYSTEMD_PAGER": ""}
    )
    if rc != 0:
        module.fail_json(msg=f"systemctl show failed: {err.strip()}", rc=rc)
    try:
        result = stale_units(units, parse_show(out), newest_input)
    except ValueError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
