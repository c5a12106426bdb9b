"""The restart decision (plugins/modules/systemd_stale_units.py): a running unit is stale when it started before the
newest of its inputs was written, or systemd holds an older definition of it (a changed unit file, or a drop-in it
has not loaded)."""

import os
from datetime import UTC, datetime

import pytest
import systemd_stale_units
from systemd_stale_units import (
    applied_time,
    decide,
    newest_input,
    parse_show,
    parse_timestamp,
    stale_units,
    unloaded_dropins,
)

START = "Sun 2026-12-06 05:12:01.500000 UTC"
STARTED_AT = datetime(2026, 12, 6, 5, 12, 1, 500000, tzinfo=UTC).timestamp()


def running(started=START, reload="no", state="active"):
    return {"ActiveState": state, "ExecMainStartTimestamp": started, "NeedDaemonReload": reload}


def test_systemctl_show_blocks_parse_in_the_order_of_the_units():
    output = (
        "Id=a.service\nActiveState=active\nExecMainStartTimestamp=" + START + "\nNeedDaemonReload=no\n\n"
        "Id=b.service\nActiveState=inactive\nExecMainStartTimestamp=\nNeedDaemonReload=no\n"
    )
    blocks = parse_show(output)
    assert [block["Id"] for block in blocks] == ["a.service", "b.service"]
    assert blocks[0]["ExecMainStartTimestamp"] == START
    assert blocks[1]["ExecMainStartTimestamp"] == ""


def test_timestamps_keep_their_microseconds_and_a_missing_one_is_none():
    assert parse_timestamp(START) == STARTED_AT
    assert parse_timestamp("Sun 2026-12-06 05:12:01.500001 UTC") > STARTED_AT
    assert parse_timestamp("") is None
    assert parse_timestamp("n/a") is None


def test_an_input_written_after_the_start_makes_the_unit_stale():
    reason = decide(running(), ("/etc/celery-fleet/worker.env", STARTED_AT + 0.000001))
    assert reason == "/etc/celery-fleet/worker.env changed after its main process started"


def test_inputs_written_before_the_start_leave_the_unit_alone():
    # The interrupted run's case turned around: the restart (or a crash restart by systemd) came after the write.
    assert decide(running(), ("/etc/celery-fleet/worker.env", STARTED_AT - 0.000001)) is None


def test_a_unit_that_does_not_run_is_never_stale():
    # Starting it reads the inputs as they are; the role's start task does that.
    for state in ("inactive", "failed", "deactivating"):
        assert decide(running(state=state), ("/x", STARTED_AT + 60)) is None


def test_a_unit_whose_definition_changed_on_disk_is_stale_whatever_the_times():
    assert decide(running(reload="yes"), (None, None)) == "its unit files changed since systemd loaded them"


def test_a_unit_with_no_existing_inputs_is_not_stale():
    assert decide(running(), (None, None)) is None


def test_newest_input_skips_missing_paths_and_expands_globs():
    times = {"/a": 10.0, "/venv/lib/python3.11/site-packages": 30.0, "/c": 20.0}

    def mtime(path):
        if path not in times:
            raise FileNotFoundError(path)
        return times[path]

    def expand(pattern):
        assert pattern == "/venv/lib/python3*/site-packages"
        return ["/venv/lib/python3.11/site-packages"]

    paths = ["/a", "/missing", "/venv/lib/python3*/site-packages", "/c"]
    assert newest_input(paths, mtime, expand) == ("/venv/lib/python3.11/site-packages", 30.0)
    assert newest_input(["/missing"], mtime, expand) == (None, None)


def test_newest_input_reads_the_real_files(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text("x")
    new.write_text("y")
    new_time = old.stat().st_mtime + 5
    os.utime(new, (new_time, new_time))
    assert newest_input([str(old), str(new), str(tmp_path / "gone")]) == (str(new), new_time)


def test_the_result_names_only_the_stale_units_and_whether_systemd_must_reload():
    units = [
        {"name": "celery-worker-default.service", "inputs": ["/new"]},
        {"name": "celery-worker-io.service", "inputs": ["/old"]},
        {"name": "celery-beat.service", "inputs": ["/old"]},
    ]
    states = [running(), running(), running(reload="yes")]
    times = {"/new": STARTED_AT + 1, "/old": STARTED_AT - 1}
    result = stale_units(units, states, lambda paths: (paths[0], times[paths[0]]))
    assert result["stale"] == ["celery-worker-default.service", "celery-beat.service"]
    assert result["daemon_reload"] is True
    assert result["units"]["celery-worker-io.service"]["stale"] is None
    assert result["units"]["celery-worker-default.service"]["newest_input"] == "/new"


def test_nothing_to_do_reports_nothing():
    units = [{"name": "redis-server.service", "inputs": ["/etc/redis/redis.conf"]}]
    result = stale_units(units, [running()], lambda paths: (paths[0], STARTED_AT - 3600))
    assert result["stale"] == []
    assert result["daemon_reload"] is False


def test_a_mismatch_between_units_and_systemctl_output_is_an_error():
    with pytest.raises(ValueError, match="described 1 units, expected 2"):
        stale_units([{"name": "a"}, {"name": "b"}], [running()], lambda paths: (None, None))


def test_a_unit_that_records_when_it_applied_its_inputs_is_judged_by_that_record():
    # A oneshot that loads firewall rules is reloaded, not restarted: its start time says nothing of the reload.
    long_ago = running(started="Sun 2026-01-04 00:00:00.000000 UTC")
    assert decide(long_ago, ("/etc/rabbitmq/celery-fleet-firewall.nft", STARTED_AT), applied=STARTED_AT + 1) is None
    reason = decide(long_ago, ("/etc/rabbitmq/celery-fleet-firewall.nft", STARTED_AT + 2), applied=STARTED_AT + 1)
    assert reason == "/etc/rabbitmq/celery-fleet-firewall.nft changed after it last applied its inputs"
    # No record (the unit predates its marker, or the host rebooted into an older unit): stale, so it is reloaded.
    assert decide(long_ago, ("/x", STARTED_AT), applied=None) == "/x changed after it last applied its inputs"


def test_the_marker_time_is_read_from_the_file(tmp_path):
    marker = tmp_path / "applied"
    assert applied_time(None) is False
    assert applied_time(str(marker)) is None
    marker.write_text("")
    assert applied_time(str(marker)) == marker.stat().st_mtime


def test_a_drop_in_that_systemd_has_not_loaded_is_found_on_disk():
    # nginx started by its package; the role then made nginx.service.d: systemd's cache of unit directories does not
    # know it, so the unit reports NeedDaemonReload=no and lists no drop-in.
    on_disk = {
        "/etc/systemd/system/nginx.service.d/*.conf": ["/etc/systemd/system/nginx.service.d/celery-fleet.conf"],
        "/run/systemd/system/nginx.service.d/*.conf": [],
    }
    state = running() | {"DropInPaths": ""}
    unloaded = unloaded_dropins("nginx.service", state, on_disk.get)
    assert unloaded == ["/etc/systemd/system/nginx.service.d/celery-fleet.conf"]
    loaded = running() | {"DropInPaths": "/etc/systemd/system/nginx.service.d/celery-fleet.conf /usr/lib/x.conf"}
    assert unloaded_dropins("nginx.service", loaded, on_disk.get) == []


def test_a_running_unit_with_an_unloaded_drop_in_is_stale_and_needs_a_daemon_reload():
    dropin = "/etc/systemd/system/nginx.service.d/celery-fleet.conf"
    reason = decide(running(), ("/etc/nginx", STARTED_AT - 1), unloaded=[dropin])
    assert reason == f"its drop-in {dropin} was written after systemd loaded it"
    assert decide(running(state="inactive"), (None, None), unloaded=[dropin]) is None
    units = [{"name": "nginx.service", "inputs": ["/etc/systemd/system/nginx.service.d"]}]
    result = stale_units(units, [running()], lambda paths: (paths[0], STARTED_AT - 1), dropins_of=lambda *_: [dropin])
    assert result["stale"] == ["nginx.service"]
    assert result["daemon_reload"] is True
    assert result["units"]["nginx.service"]["unloaded_dropins"] == [dropin]


def test_drop_ins_are_looked_for_where_systemd_reads_them(tmp_path, monkeypatch):
    directory = tmp_path / "etc" / "flower.service.d"
    directory.mkdir(parents=True)
    (directory / "celery-fleet.conf").write_text("[Service]\n")
    (directory / "notes.txt").write_text("")
    monkeypatch.setattr(systemd_stale_units, "DROPIN_DIRS", (str(tmp_path / "etc"), str(tmp_path / "run")))
    assert unloaded_dropins("flower.service", running()) == [str(directory / "celery-fleet.conf")]
