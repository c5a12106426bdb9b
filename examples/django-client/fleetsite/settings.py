"""Settings of the example Django project; the Celery part is the last block, and all a project has to add.

Everything else is a minimal Django project (no database: the views only send tasks and read their results).
"""

import os
from pathlib import Path

import celery_fleet_client

BASE_DIR = Path(__file__).resolve().parent.parent
# A real project reads this from its own secret store; the example has no sessions or forms that would use it.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
INSTALLED_APPS = ["django.contrib.contenttypes"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "fleetsite.urls"
DATABASES = {}
USE_TZ = True

# Celery, as a client of the fleet: every CELERY_* setting (broker URL and TLS, results, message format, the task
# queues as the client identity may use them, routes) from the env file that site.yml wrote for clients
# (fleet_client_env_file). fleetsite/celery.py reads them with namespace="CELERY".
globals().update(celery_fleet_client.django_settings(celery_fleet_client.read_env_file(os.environ["FLEET_ENV_FILE"])))
