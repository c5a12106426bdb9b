import pytest
from celery_fleet.app import app


@pytest.fixture
def eager_app():
    """Run tasks in-process, as a worker would, without a broker."""
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield app
    app.conf.update(task_always_eager=False, task_eager_propagates=False)
