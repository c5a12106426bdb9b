"""The prometheus role's scrape jobs (roles/prometheus/filter_plugins/prometheus_config.py), and that Prometheus'
own checker accepts a configuration built from them with the fleet's alert rules."""

import re
import subprocess

import yaml
from prometheus_config import prometheus_queue_regex, prometheus_scrape_configs
from promtool import PROMTOOL, RULES

PORTS = {"prometheus": 9090, "node": 9100, "rabbitmq": 15692, "flower": 5556}
NODES = [{"name": "broker", "address": "10.0.0.2"}, {"name": "worker1", "address": "worker1.example.net"}]
BROKERS = [{"name": "broker1", "address": "10.0.0.2"}, {"name": "broker2", "address": "2001:db8::3"}]


def _jobs(**kwargs):
    targets = {
        "prometheus": [{"name": "broker", "address": "127.0.0.1"}],
        "node": NODES,
        "rabbitmq": BROKERS,
        "flower": [{"name": "broker", "address": "127.0.0.1"}],
    }
    return {job["job_name"]: job for job in prometheus_scrape_configs(targets, PORTS, **kwargs)}


def test_each_host_is_labelled_by_its_inventory_name_not_its_address():
    node = _jobs()["node"]
    assert node["static_configs"] == [
        {"targets": ["10.0.0.2:9100"], "labels": {"instance": "broker"}},
        {"targets": ["worker1.example.net:9100"], "labels": {"instance": "worker1"}},
    ]


def test_an_ipv6_address_goes_in_brackets():
    assert _jobs()["rabbitmq"]["static_configs"][1]["targets"] == ["[2001:db8::3]:15692"]


def test_flowers_task_figures_are_scraped_on_the_monitor_hosts_loopback():
    assert _jobs()["flower"]["static_configs"] == [{"targets": ["127.0.0.1:5556"], "labels": {"instance": "broker"}}]


def test_per_queue_figures_come_from_the_fleet_vhost_and_only_the_task_queues_are_kept():
    queues = _jobs(vhost="fleet", task_queues=["celery", "io"])["rabbitmq_queues"]
    assert queues["metrics_path"] == "/metrics/detailed"
    assert queues["params"] == {
        "vhost": ["fleet"],
        "family": ["queue_coarse_metrics", "queue_consumer_count", "ra_metrics"],
    }
    [keep] = queues["metric_relabel_configs"]
    assert keep["action"] == "keep"
    assert keep["source_labels"] == ["queue"]
    # Prometheus anchors the regex: a reply queue or a worker's control queue must not match.
    pattern = re.compile(f"^(?:{keep['regex']})$")
    assert pattern.match("celery")
    assert pattern.match("io")
    assert not pattern.match("celery@worker1.celery.pidbox")
    assert not pattern.match("celeryev.4b1e")


def test_queue_names_are_matched_literally():
    pattern = re.compile(f"^(?:{prometheus_queue_regex(['a.b', 'c+d'])})$")
    assert pattern.match("a.b")
    assert pattern.match("c+d")
    assert not pattern.match("axb")


def test_no_per_queue_job_without_a_vhost_and_a_job_without_targets_is_left_out():
    jobs = prometheus_scrape_configs({"prometheus": [{"name": "m", "address": "127.0.0.1"}]}, PORTS)
    assert [job["job_name"] for job in jobs] == ["prometheus"]


def test_promtool_accepts_the_configuration_with_the_fleet_rules(tmp_path):
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [str(RULES)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]},
        "scrape_configs": list(_jobs(vhost="fleet", task_queues=["celery", "io"]).values()),
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout
