"""celery-fleet's shared tasks package: the Celery app, its settings and the fleet's tasks."""

__version__ = "0.1.0"
