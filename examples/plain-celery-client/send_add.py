#!/usr/bin/env python3
"""A plain Celery app in code, as a client of the fleet: send fleet.add by name and print its result.

    pip install ../../client                  # the client library, with Celery
    python send_add.py /path/to/client.env 2 3

The env file is the one site.yml writes for clients (fleet_client_env_file); configure() gives the app its
settings and checks them. Nothing of the tasks code is needed.
"""

import sys

import celery_fleet_client
from celery import Celery


def make_app(env_file):
    """An app of your own, with the fleet's client settings from ``env_file``."""
    return celery_fleet_client.configure(Celery("plain-client"), celery_fleet_client.read_env_file(env_file))


def main(argv):
    if len(argv) != 4:
        sys.exit(f"usage: {argv[0]} CLIENT_ENV_FILE X Y")
    app = make_app(argv[1])
    result = app.send_task("fleet.add", args=[int(argv[2]), int(argv[3])])
    print(result.get(timeout=30))


if __name__ == "__main__":
    main(sys.argv)
