"""The Celery application that every worker runs (``celery -A celery_fleet.app:app worker``)."""

from celery import Celery

app = Celery("celery_fleet")
app.config_from_object("celery_fleet.settings")
# Listing the modules explicitly (rather than autodiscovery) keeps start-up deterministic.
app.conf.include = ["celery_fleet.tasks"]
