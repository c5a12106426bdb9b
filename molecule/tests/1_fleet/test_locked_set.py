"""A worker's virtualenv holds exactly the locked set: a distribution nothing locks (a pin a new lock dropped, or
one installed by hand) is removed by the next run, and the workers restart onto what is left.

Mark `reconfigure`: changes worker1's virtualenv; the run puts it back as the scenario has it.
"""

import json
import shlex

import pytest
from fleettest.scenario import converge, main_pid

VENV = "/opt/celery-fleet/venv"
STRAY = "celery_fleet_stray"


def _installed(host):
    return {entry["name"] for entry in json.loads(host.check_output(f"{VENV}/bin/python -m pip list --format json"))}


# Writes a distribution as pip installs one (module, dist-info with METADATA and RECORD) into the purelib
# directory of the Python that runs it; prints that directory.
_PLANT = """
import os, sys, sysconfig
name = sys.argv[1]
site = sysconfig.get_path("purelib")
info = name + "-1.0.dist-info"
os.makedirs(os.path.join(site, info))
files = {
    name + ".py": "",
    info + "/METADATA": "Metadata-Version: 2.1\\nName: %s\\nVersion: 1.0\\n" % name,
    info + "/INSTALLER": "pip\\n",
}
files[info + "/RECORD"] = "".join(path + ",,\\n" for path in [*files, info + "/RECORD"])
for path, content in files.items():
    with open(os.path.join(site, path), "w") as handle:
        handle.write(content)
print(site)
"""


def _plant_stray_distribution(host):
    """A distribution outside the lock in the workers' virtualenv, as `pip install` by hand leaves one."""
    return host.check_output(f"{VENV}/bin/python -c {shlex.quote(_PLANT)} {STRAY}")


@pytest.mark.reconfigure
def test_a_distribution_the_lock_does_not_hold_is_removed_by_the_next_run(worker1):
    site = _plant_stray_distribution(worker1)
    assert STRAY.replace("_", "-") in {name.replace("_", "-") for name in _installed(worker1)}
    before = main_pid(worker1, "celery-worker-default")

    output = converge(["worker1"])

    assert "TASK [celery_worker : Remove the distributions the lock does not hold]" in output
    assert {name.replace("_", "-") for name in _installed(worker1)} & {STRAY.replace("_", "-")} == set()
    assert not worker1.file(f"{site}/{STRAY}.py").exists
    # The virtualenv changed under the running worker: it was restarted onto what is installed now.
    assert worker1.service("celery-worker-default").is_running
    assert main_pid(worker1, "celery-worker-default") != before
