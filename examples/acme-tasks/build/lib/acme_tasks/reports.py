"""Report tasks, in a plain module."""

from importlib.metadata import version

from acme_tasks.celery import app


@app.task(name="acme.reports.version")
def deployed_version():
    """Return the version of acme-tasks that the worker runs."""
    return version("acme-tasks")
