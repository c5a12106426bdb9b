"""The fleet's alert rules (roles/prometheus/files/celery-fleet-alerts.yml): promtool's syntax check, and its unit
tests (tests/alerts/celery-fleet-alerts.test.yml: each alert fires on a series that should fire it, with its labels
and text, and stays quiet on one just short of it)."""

import subprocess

import yaml
from promtool import PROMTOOL, RULE_TESTS, RULES


def _promtool(*args):
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False)


def test_promtool_checks_the_rules():
    result = _promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_rules_pass():
    result = _promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_it():
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    fired = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts - fired == set()
    assert len(alerts) == 10


def test_every_alert_says_how_bad_and_what_happened():
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            assert rule["annotations"]["description"], rule["alert"]
