#!/usr/bin/env python3
"""Send a few tasks to the fleet by name, as any client would, and print who ran each one and what it returned.

A client needs Celery and the client env file written by site.yml (``fleet_client_env_file``), not the tasks
code: the broker URL, result backend, default queue and routes come from the environment.

    set -a && . .lab/client.env && set +a && .venv/bin/python scripts/send_tasks.py

Exits non-zero when a task fails, times out, or does not come back.
"""

import argparse
import json
import os
import sys
import time

from celery import Celery


def client_from_environment():
    """A Celery client configured only from CELERY_* variables (the client env file)."""
    missing = [name for name in ("CELERY_BROKER_URL", "CELERY_CONFIG_MODULE") if not os.environ.get(name)]
    if missing:
        sys.exit(f"send_tasks: {', '.join(missing)} not set; source the client env file first (see --help)")
    # The env file names celery_fleet_client.config (CELERY_CONFIG_MODULE), which turns its CELERY_* variables into
    # Celery's settings: broker and TLS, result backend, message format, default queue and routes.
    client = Celery("fleet-client")
    client.conf.update(broker_connection_retry_on_startup=False, broker_connection_timeout=5)
    return client


def queue_of(client, name):
    """The queue the client's routing rules send task ``name`` to."""
    return client.amqp.router.route({}, name)["queue"].name


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--fetch-url",
        action="append",
        default=[],
        metavar="URL",
        help="also send fleet.fetch_url for URL (reachable from the workers)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each result")
    options = parser.parse_args()

    client = client_from_environment()
    calls = [
        ("fleet.add", [2, 3]),
        ("fleet.add", [40, 2]),
        ("fleet.whoami", []),
        ("fleet.whoami", []),
        *(("fleet.fetch_url", [url]) for url in options.fetch_url),
    ]

    rows, failures = [], 0
    with client.connection_for_write() as connection:
        # The client's name and its broker, without the password.
        print(f"sending {len(calls)} tasks through {connection.as_uri()}")
        sent = [
            (name, args, time.monotonic(), client.send_task(name, args=args, connection=connection))
            for name, args in calls
        ]
        for name, args, started, result in sent:
            try:
                value = result.get(timeout=options.timeout)
                status = "ok"
            except Exception as error:  # any failure of a task is reported, not raised
                value, status = f"{type(error).__name__}: {error}", "FAILED"
                failures += 1
            elapsed_ms = (time.monotonic() - started) * 1000
            if isinstance(value, dict) and "node" in value:
                value = f"hostname={value['hostname']}"
            rows.append(
                (
                    name,
                    json.dumps(args),
                    queue_of(client, name),
                    result.worker or "?",
                    status,
                    str(value),
                    f"{elapsed_ms:.0f}",
                )
            )

    header = ("task", "args", "queue", "ran on (node)", "status", "result", "ms")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if failures:
        sys.exit(f"send_tasks: {failures} of {len(rows)} tasks failed")


if __name__ == "__main__":
    main()
