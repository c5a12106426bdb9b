"""The fleet's tasks. Names carry the ``fleet.`` service prefix so routing rules can match them by pattern."""

import socket
import urllib.error
import urllib.request

from celery_fleet.app import app


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
