"""The project's Celery app, configured from Django's settings (the CELERY_ namespace), as Celery's guide does it."""

import os

import celery_fleet_client
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetsite.settings")

app = Celery("fleetsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Refuses, with a message that says what to set, settings that the fleet's broker would answer with ACCESS_REFUSED.
celery_fleet_client.check(app.conf)
