"""The second lane's podman store (tests/fleettest/podman_store.py): a store of its own beside the main one."""

import tomllib

from fleettest.podman_store import lane_storage_conf


def info(graph_options=None, driver="overlay"):
    return {
        "store": {
            "graphRoot": "/var/lib/containers/storage",
            "runRoot": "/run/containers/storage",
            "graphDriverName": driver,
            "graphOptions": graph_options or {},
        }
    }


def test_the_lane_has_its_own_roots_and_reads_images_from_the_main_store():
    conf = tomllib.loads(lane_storage_conf(info()))
    assert conf["storage"] == {
        "driver": "overlay",
        "graphroot": "/var/lib/containers/storage-lane",
        "runroot": "/run/containers/storage-lane",
        "options": {"additionalimagestores": ["/var/lib/containers/storage"]},
    }


def test_a_rootless_store_keeps_its_overlay_mount_program():
    options = {"overlay.mount_program": {"Executable": "/usr/bin/fuse-overlayfs", "Package": "fuse-overlayfs"}}
    conf = tomllib.loads(lane_storage_conf(info(options)))
    assert conf["storage"]["options"]["overlay"] == {"mount_program": "/usr/bin/fuse-overlayfs"}


def test_other_drivers_get_no_overlay_section():
    conf = tomllib.loads(lane_storage_conf(info({"overlay.mount_program": "/usr/bin/fuse-overlayfs"}, "vfs")))
    assert conf["storage"]["driver"] == "vfs"
    assert "overlay" not in conf["storage"]["options"]


def test_paths_are_quoted_as_toml_strings():
    odd = info()
    odd["store"]["graphRoot"] = '/srv/a "b"'
    conf = tomllib.loads(lane_storage_conf(odd))
    assert conf["storage"]["graphroot"] == '/srv/a "b"-lane'
