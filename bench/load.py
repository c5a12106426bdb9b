"""The benchmark's client: sends work through the broker and prints what it measured as one JSON object.

bench/run.py runs it on the control node, in a process of its own whose environment selects the setup:

    fleet     the fleet's client env file (CELERY_CONFIG_MODULE=celery_fleet_client.config): what any client of the
              fleet gets from site.yml
    fleet-noconfirm
              the same without publisher confirms: what that guarantee costs (not a setting to use)
    fleet-events
              the fleet with its workers sending task events to a consumer (Flower's, with a monitor host)
    tutorial  bench/remote.py's app: Celery's defaults and the rpc backend (BENCH_BROKER_URL)
    hardened  bench/remote.py's hardened app: the fleet's guarantees set by hand (BENCH_BROKER_URL)
    raw       kombu only: publish to bench/remote.py's echo queue, consume the replies (BENCH_BROKER_URL)

Two measurements per task kind: ``throughput`` sends COUNT tasks as fast as the client can and waits for every
result (tasks/s from the first send to the last result); ``latency`` sends one at a time and times each round trip.
"""

import argparse
import cProfile
import io
import json
import pstats
import statistics
import time
import uuid

TASKS = {
    # kind: (task name, args, the fleet's queue for it)
    "noop": ("fleet.add", [2, 3], None),
    "io": ("fleet.sleep", [0.01], "io"),
}


def percentiles(samples):
    """p50 and p99 of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)
    if len(ordered) < 2:
        value = ordered[0] * 1000 if ordered else float("nan")
        return value, value
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


class CeleryClient:
    """Sends tasks with Celery and collects their results over the configured backend."""

    def __init__(self, setup):
        if setup.startswith("fleet"):
            from celery import Celery

            self.app = Celery("bench-client")  # settings from CELERY_CONFIG_MODULE (the client env file)
            if setup == "fleet-noconfirm":
                self.app.conf.broker_transport_options = {}
            self.queue = lambda queue: queue  # the fleet's queues; None: the default queue
        elif setup == "hardened":
            from remote import HARDENED_QUEUE_PREFIX, hardened

            self.app = hardened
            self.queue = lambda queue: HARDENED_QUEUE_PREFIX + (queue or "celery")  # named after the fleet's
        else:
            from remote import app

            self.app = app
            self.queue = lambda queue: None  # the tutorial worker serves one queue
        self.app.conf.broker_connection_retry_on_startup = False
        self.connection = self.app.connection_for_write()
        self.producer = self.app.amqp.Producer(self.connection)

    def send(self, kind):
        name, args, queue = TASKS[kind]
        routed = self.queue(queue)
        options = {"queue": routed} if routed else {}
        return self.app.send_task(name, args=args, producer=self.producer, **options)

    def throughput(self, kind, count, timeout):
        from celery.result import ResultSet

        started = time.perf_counter()
        results = ResultSet([self.send(kind) for _ in range(count)])
        sent = time.perf_counter()
        values = results.join_native(timeout=timeout, propagate=True)
        finished = time.perf_counter()
        assert len(values) == count, f"{len(values)} of {count} results"
        return {"rate": count / (finished - started), "send_rate": count / (sent - started)}

    def round_trip(self, kind, timeout):
        started = time.perf_counter()
        self.send(kind).get(timeout=timeout)
        return time.perf_counter() - started

    def close(self):
        self.connection.release()


class RawClient:
    """Publishes to the echo queue with kombu and consumes the echoes: the ceiling without Celery."""

    def __init__(self, setup):
        from kombu import Connection, Consumer, Producer, Queue
        from remote import BROKER_URL, ECHO_QUEUE, TLS

        self.connection = Connection(BROKER_URL, ssl=TLS, heartbeat=0)
        self.channel = self.connection.channel()
        self.reply_queue = Queue(f"bench.reply.{uuid.uuid4().hex}", exclusive=True, auto_delete=True)
        self.received = 0
        self.consumer = Consumer(self.channel, [self.reply_queue], callbacks=[self._on_reply], no_ack=True)
        self.consumer.consume()
        self.producer = Producer(self.channel)
        self.echo_queue = ECHO_QUEUE

    def _on_reply(self, body, message):
        self.received += 1

    def send(self, kind):
        self.producer.publish(
            {"kind": kind, "args": TASKS[kind][1]},
            routing_key=self.echo_queue,
            reply_to=self.reply_queue.name,
            correlation_id=uuid.uuid4().hex,
            serializer="json",
            delivery_mode=1,
            retry=False,
        )

    def _wait(self, count, timeout):
        deadline = time.monotonic() + timeout
        while self.received < count:
            self.connection.drain_events(timeout=max(0.1, deadline - time.monotonic()))

    def throughput(self, kind, count, timeout):
        self.received = 0
        started = time.perf_counter()
        for _ in range(count):
            self.send(kind)
        sent = time.perf_counter()
        self._wait(count, timeout)
        finished = time.perf_counter()
        return {"rate": count / (finished - started), "send_rate": count / (sent - started)}

    def round_trip(self, kind, timeout):
        self.received = 0
        started = time.perf_counter()
        self.send(kind)
        self._wait(1, timeout)
        return time.perf_counter() - started

    def close(self):
        self.connection.release()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("setup", choices=["fleet", "fleet-noconfirm", "fleet-events", "hardened", "tutorial", "raw"])
    parser.add_argument("--kind", choices=sorted(TASKS), default="noop")
    parser.add_argument("--count", type=int, default=2000, help="tasks in the throughput run")
    parser.add_argument("--latency-count", type=int, default=300, help="round trips timed one at a time")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for all results")
    parser.add_argument("--profile", metavar="FILE", help="write the client's cProfile summary (throughput run)")
    options = parser.parse_args()

    client = (RawClient if options.setup == "raw" else CeleryClient)(options.setup)
    try:
        warm_up = min(200, options.count)
        client.throughput(options.kind, warm_up, options.timeout)  # connections, queues
        profiler = cProfile.Profile() if options.profile else None
        if profiler:
            profiler.enable()
        measured = client.throughput(options.kind, options.count, options.timeout)
        if profiler:
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
            with open(options.profile, "w") as summary:
                summary.write(out.getvalue())
        trips = [client.round_trip(options.kind, options.timeout) for _ in range(options.latency_count)]
    finally:
        client.close()
    p50, p99 = percentiles(trips)
    measured.update(
        p50_ms=p50, p99_ms=p99, count=options.count, round_trips=len(trips), tasks=warm_up + options.count + len(trips)
    )
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
