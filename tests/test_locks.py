"""Each committed lock is what its own command writes: the command in the lock's header (uv records it), run again on
a copy of the inputs with the committed lock as the output to keep (uv keeps the pins it finds there), writes the
same file. So the documented command works, and requirements.in, pyproject.toml and the lock agree.

Needs the package index (uv resolves, then keeps the locked versions); the deploy never does.
"""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOCKS = ["app/requirements.lock", "roles/flower/files/requirements.lock", "examples/acme-tasks/requirements.lock"]
# What the commands read, beside the locks themselves: requirements.in files, a pyproject.toml, and the client
# project the example's requirements.in names by path.
INPUTS = [
    "app/requirements.in",
    "roles/flower/files/requirements.in",
    "examples/acme-tasks/requirements.in",
    "examples/acme-tasks/pyproject.toml",
    "client",
]


def header_command(lock):
    """The uv command a lock's header records, as argv after `uv`."""
    for line in lock.splitlines()[:3]:
        if line.lstrip("# ").startswith("uv pip compile "):
            return shlex.split(line.lstrip("# "))[1:]
    raise AssertionError("no `uv pip compile` command in the lock's header")


@pytest.mark.parametrize("path", LOCKS)
def test_the_lock_is_what_its_documented_command_writes(tmp_path, path):
    for name in [*INPUTS, *LOCKS]:
        source, target = REPO / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        else:
            shutil.copy(source, target)
    committed = (REPO / path).read_text()
    argv = header_command(committed)
    output = argv[argv.index("-o") + 1]
    # The command runs where its output path names the lock: the repository's root or the lock's own directory.
    cwd = tmp_path if output == path else (tmp_path / path).parent
    assert (cwd / output).resolve() == (tmp_path / path).resolve(), argv
    done = subprocess.run(
        [sys.executable, "-m", "uv", *argv, "--quiet"], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / path).read_text() == committed
