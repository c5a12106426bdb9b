"""Filters of the prometheus role: Prometheus' scrape jobs for the fleet, as data for prometheus.yml.
Unit tests: tests/test_prometheus_filters.py."""

import re


def _static_configs(targets, port):
    # One static config per host, so that its "instance" label is its inventory name rather than address:port.
    return [
        {"targets": [f"{_host(target['address'])}:{port}"], "labels": {"instance": target["name"]}}
        for target in targets
    ]


def _host(address):
    # An IPv6 address goes in brackets before its port.
    return f"[{address}]" if ":" in address else address


def prometheus_queue_regex(queues):
    """An anchored regex (RE2, as Prometheus reads it) matching exactly the given queue names."""
    return "|".join(re.escape(queue) for queue in queues)


def prometheus_scrape_configs(targets_by_job, ports, vhost="", task_queues=()):
    """Prometheus' scrape_configs for the fleet.

    ``targets_by_job``: ``{"prometheus" | "node" | "rabbitmq" | "flower": [{"name", "address"}, ...]}``;
    ``ports``: the port of each. RabbitMQ gives two jobs: ``rabbitmq`` (its aggregated /metrics: alarms, node
    totals) and, when ``vhost`` and ``task_queues`` are given, ``rabbitmq_queues`` (/metrics/detailed: messages
    ready and consumers of each queue of ``vhost`` from the node that hosts it, and one Raft series per quorum queue
    member from each member's node, kept for the task queues only, so that Celery's reply and control queues raise
    no alert). A job without targets is left out.
    """
    jobs = []
    for job in ("prometheus", "node", "rabbitmq", "flower"):
        targets = targets_by_job.get(job) or []
        if targets:
            jobs.append({"job_name": job, "static_configs": _static_configs(targets, ports[job])})
    rabbitmq = targets_by_job.get("rabbitmq") or []
    if rabbitmq and vhost and task_queues:
        jobs.append(
            {
                "job_name": "rabbitmq_queues",
                "metrics_path": "/metrics/detailed",
                "params": {"vhost": [vhost], "family": ["queue_coarse_metrics", "queue_consumer_count", "ra_metrics"]},
                "static_configs": _static_configs(rabbitmq, ports["rabbitmq"]),
                "metric_relabel_configs": [
                    {"source_labels": ["queue"], "regex": prometheus_queue_regex(task_queues), "action": "keep"}
                ],
            }
        )
    return jobs


class FilterModule:
    def filters(self):
        return {
            name: function
            for name, function in globals().items()
            if name.startswith("prometheus_") and callable(function)
        }
