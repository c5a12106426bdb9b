"""The client settings as a configuration module: ``CELERY_CONFIG_MODULE=celery_fleet_client.config``.

The client env file that site.yml writes names this module, so that the stock ``celery`` CLI and ``Celery()`` in
your code, with the file sourced (``set -a && . ./client.env && set +a``), talk to the fleet.
"""

import os

from celery_fleet_client import settings

globals().update(settings(os.environ))
