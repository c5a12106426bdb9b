"""An existing Django project that becomes a client of a celery-fleet: it sends tasks by name, with no tasks code."""

# The usual Celery-with-Django layout: the app is loaded with Django, so that views can send tasks.
from fleetsite.celery import app as celery_app

__all__ = ("celery_app",)
