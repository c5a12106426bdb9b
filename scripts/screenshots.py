"""The docs' pictures, taken by a real browser from the running lab (make screenshots: make lab LAB_MONITORING=1 first).

    python scripts/screenshots.py docs/images

Sends a few hundred tasks through the lab (the client env file), then photographs, with Debian's headless Chromium:
Flower's workers page (flower-workers.png) and a Prometheus graph of the fleet's task throughput, from Flower's task
events (prometheus-task-throughput.png). Generated, never edited by hand: run it again to refresh them.
"""

import argparse
import sys
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB = REPO / ".lab"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "client" / "src"))

from fleettest.browser import chromium, send_login  # noqa: E402
from fleettest.wait import wait_for  # noqa: E402

# Task throughput as Prometheus computes it from Flower's events: tasks finished per second, by task name.
THROUGHPUT = 'sum by (task) (rate(flower_events_total{type="task-succeeded"}[1m]))'


def lab_env():
    """What make lab wrote for later steps (.lab/lab.env): the published URLs of Flower and Prometheus."""
    env = {}
    for line in (LAB / "lab.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            env[name] = value.strip("'")
    if not env.get("LAB_FLOWER_URL"):
        sys.exit("screenshots: the lab runs without monitoring; start it with make lab LAB_MONITORING=1")
    return env


def send_tasks(rounds=6, per_round=100, pause=10):
    """Work for the graph: fleet.add and fleet.fetch_url's cheaper sibling in bursts, each round's results awaited."""
    from celery import Celery
    from celery_fleet_client import read_env_file, settings

    app = Celery("screenshots")
    app.config_from_object(settings(read_env_file(LAB / "client.env")))
    for _ in range(rounds):
        results = [app.send_task("fleet.add", args=[i, i]) for i in range(per_round)]
        results += [app.send_task("fleet.sleep", args=[0.01]) for _ in range(per_round // 4)]
        for result in results:
            result.get(timeout=60)
        time.sleep(pause)
    app.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="directory the pictures are written into (docs/images)")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    env = lab_env()
    flower, prometheus = env["LAB_FLOWER_URL"].rstrip("/"), env["LAB_PROMETHEUS_URL"].rstrip("/")
    print("screenshots: sending tasks through the lab for a minute", flush=True)
    send_tasks()
    with chromium(trusted_certificates=[LAB / "pki" / "flower.crt"], window=(1400, 1050)) as browser:
        password = (LAB / "secrets" / "fleet_flower_password").read_text().split()[0]
        send_login(browser, "operator", password)
        browser.get(f"{flower}/workers")
        wait_for(
            lambda: browser.execute_script("return document.querySelectorAll('#workers-table tbody tr').length") >= 2,
            timeout=30,
            what="Flower's workers table",
        )
        time.sleep(1)
        browser.save_screenshot(str(options.out / "flower-workers.png"))
        query = urllib.parse.urlencode({"g0.expr": THROUGHPUT, "g0.tab": "0", "g0.range_input": "5m"})
        browser.get(f"{prometheus}/graph?{query}")
        time.sleep(5)  # the graph draws after its query returns
        browser.save_screenshot(str(options.out / "prometheus-task-throughput.png"))
    for name in ("flower-workers.png", "prometheus-task-throughput.png"):
        print(f"screenshots: wrote {options.out / name}")


if __name__ == "__main__":
    main()
