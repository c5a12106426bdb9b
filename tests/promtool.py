"""Where the tests find promtool (Prometheus' checker, unpacked from Debian's package by `make tools`) and the fleet's
alert rules."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMTOOL = os.environ.get("PROMTOOL", str(ROOT / ".tools" / "promtool"))
RULES = ROOT / "roles" / "prometheus" / "files" / "celery-fleet-alerts.yml"
RULE_TESTS = ROOT / "tests" / "alerts" / "celery-fleet-alerts.test.yml"
