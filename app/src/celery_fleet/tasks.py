"""The fleet's tasks. Names carry the ``fleet.`` service prefix so routing rules can match them by pattern."""

import os
import socket
import time
import urllib.error
import urllib.request

from celery.exceptions import SoftTimeLimitExceeded

from celery_fleet import __version__
from celery_fleet.app import app


class TransientError(Exception):
    """A failure worth retrying: a timeout, a dropped connection, a busy upstream."""


@app.task(name="fleet.add")
def add(x, y):
    """Return ``x + y``: the smallest task that proves a round trip through the fleet."""
    return x + y


@app.task(name="fleet.whoami", bind=True)
def whoami(self):
    """Say which host, Celery node and queue ran this task (routing checks compare these)."""
    delivery = self.request.delivery_info or {}
    return {
        "hostname": socket.gethostname(),
        "node": self.request.hostname,
        "queue": delivery.get("routing_key"),
    }


@app.task(name="fleet.fetch_url")
def fetch_url(url, timeout=10.0):
    """Fetch ``url`` and return the HTTP status code (error statuses included, as numbers)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"fetch_url only fetches http(s) URLs, not {url!r}")
    request = urllib.request.Request(url, headers={"User-Agent": "celery-fleet"})  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@app.task(
    name="fleet.flaky",
    bind=True,
    autoretry_for=(TransientError,),
    retry_backoff=1,  # 1 s, 2 s, 4 s, ... between attempts
    retry_backoff_max=30,
    retry_jitter=False,  # deterministic delays; add jitter when many tasks fail together
    max_retries=3,
)
def flaky(self, failures=2):
    """Fail with a transient error ``failures`` times, then succeed: the retry policy at work.

    Returns the number of the attempt that succeeded. With more than ``max_retries`` failures the task ends in
    failure with the last TransientError.
    """
    if self.request.retries < failures:
        raise TransientError(f"attempt {self.request.retries + 1} fails on purpose ({failures} failures asked)")
    return self.request.retries + 1


@app.task(name="fleet.tick", bind=True)
def tick(self):
    """A periodic task's body: say when and where it ran (celery beat sends it; see fleet_beat_schedule)."""
    return {"node": self.request.hostname, "id": self.request.id}


@app.task(name="fleet.version")
def version():
    """The version of the tasks package that the worker runs (what a rolling deploy changes)."""
    return __version__


# A process that dies mid-task (OOM killer, kill -9) is retried like Task.retry(): after default_retry_delay, at
# most max_retries times (settings.task_retry_on_worker_lost). These two retry after 1 s instead of Celery's 3 min.
@app.task(name="fleet.sleep", bind=True, default_retry_delay=1)
def sleep(self, seconds, tag=None, ignore_soft_limit=False):
    """Wait ``seconds`` (I/O-bound work, as a network call is), then return ``tag`` and who did the work.

    The fault suite's probe: each run logs ``Task fleet.sleep[<id>] succeeded``, which is how it counts completions
    and duplicates. Idempotent, as every late-acknowledged task must be. ``ignore_soft_limit`` keeps sleeping past
    the soft time limit, as code that never returns to Python would, so that only the hard limit stops it.
    """
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            time.sleep(left)
        except SoftTimeLimitExceeded:
            if not ignore_soft_limit:
                raise
    return {"tag": tag, "node": self.request.hostname, "retries": self.request.retries}


@app.task(name="fleet.crash", bind=True, default_retry_delay=1, max_retries=2)
def crash(self, code=70):
    """End the pool process at once (``os._exit``), as a segfaulting extension or the OOM killer would.

    Shows the policy for tasks that kill their worker process: retried ``max_retries`` times, then reported as
    failed with WorkerLostError, never redelivered forever. In a prefork pool only the child dies; in a thread pool
    the whole worker does (systemd restarts it, and the broker redelivers the task each time: see the README).
    """
    os._exit(code)
