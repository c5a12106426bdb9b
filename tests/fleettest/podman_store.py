"""A second podman container store beside this machine's own, for `make test`'s second lane.

The molecule scenarios name their containers alike (broker, worker1, worker2), and a container name is unique in
one podman store: two scenarios in one store replace each other's containers. A scenario run with
``CONTAINERS_STORAGE_CONF`` pointing at the file this program writes has a store of its own (its own containers,
volumes and state), reads the base images from the main store (an additional image store, read-only: they are
built once), and shares the network configuration (each scenario's network has its own name and subnet).

Usage: ``podman info --format json | python tests/fleettest/podman_store.py > storage.conf``
"""

import json
import sys

SUFFIX = "-lane"


def _quoted(value):
    """A TOML basic string."""
    return json.dumps(str(value))


def lane_storage_conf(info, suffix=SUFFIX):
    """The storage.conf of a store beside the one ``info`` (``podman info --format json``, parsed) describes.

    Its graph and run roots are the main store's with ``suffix``; the main store's graph root is its additional
    image store; the driver and, where the main store has one (rootless podman on an older kernel), the overlay
    mount program are the main store's.
    """
    store = info["store"]
    graph_root, run_root, driver = store["graphRoot"], store["runRoot"], store["graphDriverName"]
    lines = [
        "# A second podman store for make test's second lane (tests/fleettest/podman_store.py); generated.",
        "[storage]",
        f"driver = {_quoted(driver)}",
        f"graphroot = {_quoted(graph_root + suffix)}",
        f"runroot = {_quoted(run_root + suffix)}",
        "",
        "[storage.options]",
        f"additionalimagestores = [{_quoted(graph_root)}]",
    ]
    mount_program = (store.get("graphOptions") or {}).get("overlay.mount_program")
    if driver == "overlay" and mount_program:
        executable = mount_program.get("Executable") if isinstance(mount_program, dict) else mount_program
        lines += ["", "[storage.options.overlay]", f"mount_program = {_quoted(executable)}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(lane_storage_conf(json.load(sys.stdin)))
