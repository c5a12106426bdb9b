"""celery-fleet's benchmark: provisioning time as the fleet grows, and the work the fleet moves against baselines.

    make bench        (or: .venv/bin/python bench/run.py --help)

1. Provisioning. For N workers (default 1, 4, 10): fresh containers (one broker + N workers, the lab's
   playbooks/lab.yml on an inventory generated under .bench/), then the wall time of ``site.yml`` on them (fresh) and
   of a second run (idempotent; it must change nothing). Ratios: re-run/fresh and time(N=max)/time(N=1); the
   ten slowest tasks of each run (Ansible's profile_tasks).
2. The fleet at work, on the last fleet (N=max): for 1, 2, 4 running worker containers (--work-workers; the others
   run nothing), these setups on the same broker and containers, one after another:
     fleet     the fleet's workers and the client env file site.yml wrote (bench/load.py)
     fleet-noconfirm  the same, the client without publisher confirms: what that guarantee costs
     fleet-events  the fleet with task events on (`celery control enable_events`) and an event consumer (`celery
               events`), as with a monitor host, whose Flower consumes them: what task events cost
     hardened  Celery set up by hand with the fleet's guarantees (bench/remote.py), one `celery worker` per lab
               worker group and container: what the fleet's own wiring costs
     tutorial  Celery's defaults and the rpc backend (bench/remote.py), one `celery worker` per container
     raw       kombu publish/consume through an echo consumer per container: the ceiling without Celery
   Each: throughput of COUNT tasks (first send to last result) and the p50/p99 of one-at-a-time round trips, for a
   no-op task (fleet.add) and a small I/O-bound one (fleet.sleep 10 ms); RSS of a worker node and of the broker at
   idle and under load.
3. The cluster (unless --skip-cluster): fresh containers, three brokers + as many workers as the largest work run,
   site.yml (a RabbitMQ cluster, quorum queues), then the fleet's setups with those worker containers as in 2: the
   cluster against the single broker with classic queues, and the RSS of each broker node at idle and under load.
   Last, a cold start: every node stopped, then all started at once; the seconds until the nodes run and until
   every worker answers again.
4. Output: .bench/report.md (tables, ratios against the targets), the same in docs/performance.md, and
   .bench/throughput.png, .bench/provisioning.png.

Each number is a ratio of measurements taken side by side in one run: this machine is noisy, nothing here is a pass
or fail of a test. The bench's containers, network and port are its own (celery-fleet-bench-*, 127.0.0.1:5681); it
removes them at the end unless --keep.
"""

import argparse
import contextlib
import json
import os
import re
import resource
import secrets
import shlex
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import report
import yaml
from remote import ECHO_QUEUE, HARDENED_QUEUE_PREFIX

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / ".bench"
INVENTORY = OUT / "inventory"
# The last run's figures, written between markers (bench/report.py into_doc).
DOC = REPO / "docs" / "performance.md"
FLEET_DIR = OUT / "fleet"
PREFIX = "celery-fleet-bench"
BROKER = f"{PREFIX}-mq"
BENCH_USER = "bench"
BENCH_VHOST = "bench"
REMOTE_DIR = "/opt/celery-fleet/bench"
VENV_BIN = "/opt/celery-fleet/venv/bin"
CLUSTER_BROKERS = [BROKER, f"{BROKER}2", f"{BROKER}3"]
# The lab's worker groups (queues, pool, concurrency), which the bench's fleet runs and the hardened baseline copies.
LAB_FLEET = REPO / "inventory/lab/group_vars/all/fleet.yml"
PLAYBOOK = [str(REPO / ".venv/bin/ansible-playbook")]
PYTHON = str(REPO / ".venv/bin/python")
CELERY = str(REPO / ".venv/bin/celery")


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(argv, timeout=600, check=True, env=None, **kwargs):
    """Run a command, return its stdout; raise with its output when it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
    if check and done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def podman_exec(container, *argv, timeout=120, check=True):
    return run(["podman", "exec", container, *argv], timeout=timeout, check=check)


def worker(i):
    return f"{PREFIX}-worker{i}"


def lab_worker_groups():
    """name -> {queues, pool, concurrency} of the lab's worker groups."""
    groups = yaml.safe_load(LAB_FLEET.read_text())["fleet_worker_groups"]
    return {
        name: {"queues": group["queues"], "pool": group.get("pool", "prefork"), "concurrency": group["concurrency"]}
        for name, group in groups.items()
    }


# The Celery app of each baseline that runs Celery (bench/remote.py), for its workers and for `celery inspect`.
BASELINE_APPS = {"tutorial": "remote:app", "hardened": "remote:hardened"}
# The setups whose worker side is the fleet's own worker units.
FLEET_SETUPS = ("fleet", "fleet-events")


def baseline_units(setup, container):
    """The transient systemd units (name, argv) that run a baseline's worker side (bench/remote.py) in a worker
    container; none for the fleet's setups, whose workers are the fleet's own units."""
    celery = [f"{VENV_BIN}/celery", "--app"]
    if setup == "tutorial":
        return [("bench-tutorial", [*celery, BASELINE_APPS[setup], "worker", "--loglevel", "WARNING",
                                    "--hostname", f"tutorial@{container}"])]  # fmt: skip
    if setup == "raw":
        return [("bench-echo", [f"{VENV_BIN}/python", "remote.py", "echo"])]
    if setup == "hardened":
        return [
            (f"bench-hardened-{name}", [*celery, BASELINE_APPS[setup], "worker", "--loglevel", "WARNING",
                                        "--hostname", f"hardened-{name}@{container}",
                                        "--queues", ",".join(HARDENED_QUEUE_PREFIX + q for q in group["queues"]),
                                        "--pool", group["pool"], "--concurrency", str(group["concurrency"])])
            for name, group in lab_worker_groups().items()
        ]  # fmt: skip
    return []


def all_baseline_units():
    return [unit for setup in report.SETUPS for unit, _argv in baseline_units(setup, "")]


def rabbitmqctl(*argv, check=True, stdin=None):
    """rabbitmqctl on the bench's broker; ``stdin`` feeds it (a password stays off the command line)."""
    return run(["podman", "exec", "-i", BROKER, "rabbitmqctl", "--quiet", *argv], check=check, input=stdin)


# --- the bench's inventory: the lab's fleet settings, its own containers, network, port and directory -------------


def write_inventory(workers, distro, port, connection="podman_pipelined", brokers=1):
    """Generate .bench/inventory for ``brokers`` brokers (1, or 3: a cluster) and ``workers`` workers that each run
    every worker group.

    ``connection``: podman_pipelined (the lab's, stock Ansible) or podman (what Mitogen's strategy accelerates).
    A cluster's nodes publish their AMQP ports on the next loopback ports after ``port`` (as in inventory/lab-cluster).
    """
    lab_vars = REPO / "inventory/lab/group_vars"
    (INVENTORY / "group_vars/all").mkdir(parents=True, exist_ok=True)
    hosts = {
        "all": {
            "hosts": {
                "localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                }
            },
            "children": {
                # Literal container names: Mitogen does not template ansible_host.
                "broker": {
                    "hosts": {
                        f"mq{i if i > 1 else ''}": {"ansible_host": name}
                        | ({"fleet_client_broker_port": port + i - 1} if i > 1 else {})
                        for i, name in enumerate(CLUSTER_BROKERS[:brokers], start=1)
                    }
                },
                "workers": {"hosts": {f"worker{i}": {"ansible_host": worker(i)} for i in range(1, workers + 1)}},
                "lab": {
                    "children": {"broker": None, "workers": None},
                    "vars": {
                        "ansible_connection": connection,
                        "ansible_python_interpreter": "/usr/bin/python3",
                    },
                },
            },
        }
    }
    # JSON is YAML: no YAML library needed on the control node beyond Ansible's own.
    (INVENTORY / "hosts.yml").write_text("---\n" + json.dumps(hosts, indent=2) + "\n")
    settings = {
        "lab_dir": str(FLEET_DIR),
        "lab_distro": distro,
        "lab_image": f"localhost/celery-fleet-base:{distro}",
        "lab_network": PREFIX,
        "lab_amqp_host_port": port,
        # The bench's fleet has no monitor host: nothing is published on these, but playbooks/lab.yml checks them.
        "lab_prometheus_host_port": port + 10,
        "lab_flower_host_port": port + 11,
    }
    (INVENTORY / "group_vars/all/bench.yml").write_text("---\n" + json.dumps(settings, indent=2) + "\n")
    for link, target in (
        (INVENTORY / "group_vars/all/fleet.yml", lab_vars / "all/fleet.yml"),
        (INVENTORY / "group_vars/broker", lab_vars / "broker"),
    ):
        if not link.is_symlink():
            link.symlink_to(target)


def mitogen_env():
    """The environment that runs a playbook with Mitogen's linear strategy (PyPI mitogen, bench/requirements.txt)."""
    import ansible_mitogen

    strategies = Path(ansible_mitogen.__file__).parent / "plugins/strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(strategies), "ANSIBLE_STRATEGY": "mitogen_linear"}


def playbook(name, log_name, *extra, timeout=3600, mitogen=False):
    """Run a playbook on the bench inventory; return (seconds, changed tasks summed over hosts). Output: .bench/."""
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", ANSIBLE_FORCE_COLOR="0")
    if mitogen:
        env.update(mitogen_env())
    started = time.monotonic()
    with open(OUT / log_name, "w") as out:
        done = subprocess.run(
            [*PLAYBOOK, "-i", str(INVENTORY), str(REPO / name), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            env=env,
            cwd=REPO,
        )
    seconds = time.monotonic() - started
    text = (OUT / log_name).read_text()
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {done.returncode}); see {OUT / log_name}:\n{text[-3000:]}")
    changed = sum(int(n) for n in re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", text, re.MULTILINE))
    return seconds, changed, report.profile_top(text)


def containers(state):
    playbook("playbooks/lab.yml", f"lab-{state}.log", "-e", f"lab_state={state}")


def fresh_containers(workers, distro, port, connection="podman_pipelined", brokers=1):
    """The bench's inventory for ``brokers`` brokers and ``workers`` workers, on new containers (the old ones go)."""
    write_inventory(workers, distro, port, connection, brokers)
    containers("absent")
    write_inventory(
        workers, distro, port, connection, brokers
    )  # lab.yml's removal took .bench/fleet, not the inventory
    containers("present")


def provision(counts, distro, port, strategies):
    """Fresh and idempotent site.yml for each worker count and strategy; the last fleet stays up.

    ``strategies``: "stock" (Ansible's linear strategy over the lab's pipelined podman connection) and/or "mitogen"
    (Mitogen's linear strategy over podman), each on fresh containers.
    """
    rows = []
    for count in counts:
        for strategy in strategies:
            mitogen = strategy == "mitogen"
            connection = "podman" if mitogen else "podman_pipelined"
            log(f"provisioning: fresh containers, 1 broker + {count} workers ({strategy})")
            fresh_containers(count, distro, port, connection)
            tag = f"{count}-{strategy}"
            fresh, fresh_changed, fresh_top = playbook("site.yml", f"site-fresh-{tag}.log", mitogen=mitogen)
            log(f"provisioning: fresh site.yml {fresh:.0f} s ({fresh_changed} changed); running it again")
            rerun, rerun_changed, rerun_top = playbook("site.yml", f"site-rerun-{tag}.log", mitogen=mitogen)
            log(f"provisioning: re-run {rerun:.0f} s ({rerun_changed} changed)")
            if rerun_changed:
                raise RuntimeError(
                    f"site.yml changed {rerun_changed} things on its second run: see .bench/site-rerun-{tag}.log"
                )
            rows.append(
                {"workers": count, "strategy": strategy, "fresh_s": fresh, "rerun_s": rerun,
                 "fresh_changed": fresh_changed, "rerun_changed": rerun_changed,
                 "fresh_top": fresh_top, "rerun_top": rerun_top}
            )  # fmt: skip
    return rows


# --- the fleet at work ----------------------------------------------------------------------------------------------


def shell_env(path):
    """The variables a shell gets from ``set -a; . path``."""
    out = run(["bash", "-c", 'set -a && . "$1" && env -0', "env", str(path)])
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def bench_url(url, password):
    """``url`` (the fleet's broker URL) with the bench user and vhost instead of the fleet's."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, f"{BENCH_USER}:{password}@{host}", "/" + BENCH_VHOST, "", ""))


class Work:
    """Runs the fleet, its client without confirms, and the baselines on the fleet's containers."""

    def __init__(self, workers, count, io_count, latency_count, profile, brokers=(BROKER,)):
        self.workers = workers
        self.brokers = list(brokers)
        self.count, self.io_count, self.latency_count = count, io_count, latency_count
        self.profile = profile
        self.client_env = shell_env(FLEET_DIR / "client.env")
        self.monitor_env = shell_env(FLEET_DIR / "monitor.env")
        self.password = secrets.token_hex(16)
        self.events_consumer = None
        listed = podman_exec(worker(1), "systemctl", "list-units", "--all", "--plain", "--no-legend", "celery-worker-*")
        self.units = [line.split()[0] for line in listed.splitlines() if line.startswith("celery-worker-")]
        worker_env = podman_exec(
            worker(1),
            "bash",
            "-c",
            '. /etc/celery-fleet/worker.env && echo "$CELERY_BROKER_URL $CELERY_BROKER_SSL_CA_CERTS"',
        ).split()
        self.remote_env = {"BENCH_BROKER_URL": bench_url(worker_env[0], self.password), "BENCH_CA_CERTS": worker_env[1]}
        base = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
        self.baseline_env = dict(
            base,
            BENCH_BROKER_URL=bench_url(self.client_env["CELERY_BROKER_URL"], self.password),
            BENCH_CA_CERTS=self.client_env.get("CELERY_BROKER_SSL_CA_CERTS", ""),
        )

    # Broker side: a vhost and user of the bench's own, removed afterwards.
    def setup(self):
        rabbitmqctl("add_vhost", BENCH_VHOST, check=False)
        rabbitmqctl("delete_user", BENCH_USER, check=False)
        rabbitmqctl("add_user", BENCH_USER, stdin=self.password + "\n")
        rabbitmqctl("set_permissions", "-p", BENCH_VHOST, BENCH_USER, ".*", ".*", ".*")
        for i in range(1, self.workers + 1):
            podman_exec(worker(i), "mkdir", "-p", REMOTE_DIR)
            run(["podman", "cp", str(REPO / "bench/remote.py"), f"{worker(i)}:{REMOTE_DIR}/remote.py"])

    def teardown(self):
        self.task_events(False)
        for i in range(1, self.workers + 1):
            podman_exec(worker(i), "systemctl", "stop", *all_baseline_units(), check=False)
            podman_exec(worker(i), "rm", "-rf", REMOTE_DIR, check=False)
            podman_exec(worker(i), "systemctl", "start", *self.units, check=False)
        rabbitmqctl("delete_vhost", BENCH_VHOST, check=False)
        rabbitmqctl("delete_user", BENCH_USER, check=False)

    # Which processes run where.
    def only(self, setup, active):
        """Run ``setup``'s worker side on the first ``active`` worker containers and nothing else on any of them."""
        if setup != "fleet-events":
            self.task_events(False)  # while the fleet's workers still run to hear it
        baselines = all_baseline_units()
        for i in range(1, self.workers + 1):
            container = worker(i)
            podman_exec(container, "systemctl", "stop", *baselines, check=False)
            podman_exec(container, "systemctl", "reset-failed", *baselines, check=False)
            if setup in FLEET_SETUPS and i <= active:
                podman_exec(container, "systemctl", "start", *self.units)
            else:
                podman_exec(container, "systemctl", "stop", *self.units)
            if i > active:
                continue
            setenv = [f"--setenv={k}={v}" for k, v in self.remote_env.items()]
            for unit, command in baseline_units(setup, container):
                podman_exec(
                    container, "systemd-run", f"--unit={unit}", "--uid=celery", f"--working-directory={REMOTE_DIR}",
                    "--property=Restart=no", "--collect", *setenv, *command,
                )  # fmt: skip
        self.wait_ready(setup, active)
        if setup == "fleet-events":
            self.task_events(True)

    def task_events(self, on):
        """Switch the fleet's workers' task events on or off (remote control, as the monitoring identity), with an
        event consumer on the control node while they are on (RabbitMQ drops events that no queue is bound for)."""
        if on == (self.events_consumer is not None):
            return
        if on:
            self.events_consumer = subprocess.Popen(
                [CELERY, "events", "--dump"], env=self.monitor_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        else:
            self.events_consumer.terminate()
            self.events_consumer.wait(timeout=30)
            self.events_consumer = None
        # Off: a worker that no longer runs cannot answer, and its events setting ended with its process.
        run([CELERY, "control", "enable_events" if on else "disable_events", "--timeout", "5"], env=self.monitor_env,
            check=on)  # fmt: skip

    def wait_ready(self, setup, active, timeout=60):
        """Wait until ``active`` containers serve ``setup``; restart its units once if they do not in time."""
        units = [unit for unit, _argv in baseline_units(setup, "")] or self.units
        expected = active * len(units)
        for attempt in (1, 2):
            deadline = time.monotonic() + timeout
            while (ready := self.ready(setup)) < expected and time.monotonic() < deadline:
                time.sleep(1)
            if ready >= expected:
                return
            status = podman_exec(worker(1), "systemctl", "status", "--no-pager", "-n", "30", *units, check=False)
            log(f"{setup}: {ready} of {expected} ready after {timeout} s (attempt {attempt}):\n{status}")
            for i in range(1, active + 1):
                podman_exec(worker(i), "systemctl", "restart", *units, check=False)
        raise RuntimeError(f"{setup}: {ready} of {expected} workers ready after two tries")

    def ready(self, setup):
        if setup == "raw":
            out = rabbitmqctl("list_queues", "-p", BENCH_VHOST, "name", "consumers")
            counts = dict(line.split() for line in out.splitlines() if line.strip())
            return int(counts.get(ECHO_QUEUE, 0))
        fleet = setup in FLEET_SETUPS
        env = self.monitor_env if fleet else self.baseline_env
        argv = [
            CELERY,
            *([] if fleet else ["--app", BASELINE_APPS[setup]]),
            "inspect",
            "ping",
            "--json",
            "--timeout",
            "2",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO / "bench", timeout=60)
        try:
            return len(json.loads(done.stdout or "{}"))
        except json.JSONDecodeError:
            return 0

    def load(self, setup, kind, profile=None):
        """Run bench/load.py once; its measurements, plus the CPU time per task of the client, broker and workers."""
        env = self.client_env if setup.startswith("fleet") else self.baseline_env
        count = self.count if kind == "noop" else self.io_count
        argv = [PYTHON, str(REPO / "bench/load.py"), setup, "--kind", kind, "--count", str(count),
                "--latency-count", str(self.latency_count)]  # fmt: skip
        if profile:
            argv += ["--profile", str(profile)]
        hosts = [*self.brokers, *(worker(i) for i in range(1, self.workers + 1))]
        cpu_before = [self.cpu_seconds(host) for host in hosts]
        client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        measured = json.loads(run(argv, env=env, timeout=900).strip().splitlines()[-1])
        client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_after = [self.cpu_seconds(host) for host in hosts]
        # Every task of the run counts (load.py's "tasks"): warm-up, throughput run and round trips, all of one kind.
        tasks = measured["tasks"]
        used = [after - before for before, after in zip(cpu_before, cpu_after, strict=True)]
        client = (client_after.ru_utime + client_after.ru_stime) - (client_before.ru_utime + client_before.ru_stime)
        brokers = len(self.brokers)
        measured["cpu_ms"] = {
            "client": client * 1000 / tasks,
            "broker": sum(used[:brokers]) * 1000 / tasks,
            "workers": sum(used[brokers:]) * 1000 / tasks,
        }
        return measured

    # CPU time (user + system, seconds) of every process in a container, the reaped children included.
    CPU = r"""
import os
ticks = 0
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])
print(ticks / os.sysconf("SC_CLK_TCK"))
"""

    def cpu_seconds(self, container):
        return float(podman_exec(container, "python3", "-c", self.CPU))

    # Memory.
    RSS = r"""
import os, sys
def rss(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
def children(pid):
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []
def tree(pid):
    return rss(pid) + sum(tree(c) for c in children(pid))
if sys.argv[1] == "broker":
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and open(f"/proc/{p}/comm").read().strip() == "beam.smp"]
else:
    pids = [int(p) for p in sys.argv[2:] if p != "0"]
print(sum(tree(p) for p in pids))
"""

    def rss_kib(self):
        """RSS in KiB of worker 1's fleet units (main processes and their pools), then of each broker's Erlang VM."""
        pids = [podman_exec(worker(1), "systemctl", "show", "-P", "MainPID", unit).strip() for unit in self.units]
        node = int(podman_exec(worker(1), "python3", "-c", self.RSS, "node", *pids))
        return (node, *(int(podman_exec(broker, "python3", "-c", self.RSS, "broker")) for broker in self.brokers))

    def measure(self, steps, rows, memory, setups=report.SETUPS):
        """Fill ``rows`` (one per setup, worker count and task kind) and ``memory`` as the runs finish."""
        for active in steps:
            for setup in setups:
                log(f"work: {setup} on {active} worker container(s)")
                if setup != "fleet-noconfirm":  # the fleet's workers, another client
                    self.only(setup, active)
                if setup == "fleet" and active == steps[-1]:
                    time.sleep(3)
                    memory["idle"] = self.rss_kib()
                for kind in ("noop",) if setup == "raw" else ("noop", "io"):  # the echo does no work to wait on
                    # Memory under load: during the busiest run of the fleet's workers (not while CPU is counted).
                    busiest = setup == "fleet-noconfirm" and active == steps[-1] and kind == "noop"
                    sampler = Sampler(self.rss_kib) if busiest else None
                    profile = OUT / f"profile-{setup}-{kind}.txt" if self.profile and active == steps[-1] else None
                    with sampler or contextlib.nullcontext():
                        measured = self.load(setup, kind, profile)
                    if sampler:
                        memory["load"] = sampler.peak
                    measured.update(setup=setup, workers=active, kind=kind)
                    log(
                        f"work: {setup:8} {kind:4} x{active}: {measured['rate']:7.0f} tasks/s, "
                        f"p50 {measured['p50_ms']:.2f} ms, p99 {measured['p99_ms']:.2f} ms"
                    )
                    rows.append(measured)


def cluster(workers, options, into):
    """The fleet's setups on a fresh three-node cluster (quorum queues) and ``workers`` workers, into ``into``."""
    log(f"cluster: fresh containers, 3 brokers + {workers} workers")
    fresh_containers(workers, options.distro, options.port, brokers=3)
    into["fresh_s"], _changed, _top = playbook("site.yml", f"site-fresh-cluster-{workers}.log")
    log(f"cluster: fresh site.yml {into['fresh_s']:.0f} s")
    work = Work(workers, options.count, options.io_count, options.latency_count, False, brokers=CLUSTER_BROKERS)
    work.measure([workers], into["work"], into["memory"], setups=("fleet", "fleet-noconfirm"))
    into["cold_start"] = cold_start(work)
    log(f"cluster: cold start, nodes back after {into['cold_start']['nodes_s']:.0f} s, "
        f"every worker after {into['cold_start']['workers_s']:.0f} s")  # fmt: skip


def cold_start(work):
    """Stop every broker node, then start them all at once (a power cut, a maintenance window): the seconds until
    every node runs again, and until every worker instance answers a ping (docs/cluster.md, "Cold start")."""
    for broker in work.brokers:
        podman_exec(broker, "systemctl", "stop", "rabbitmq-server", timeout=300)
    started = time.monotonic()
    for broker in work.brokers:  # no waiting: a node waits for its last-seen peers before it reports started
        podman_exec(broker, "systemctl", "start", "--no-block", "rabbitmq-server")
    # await_startup waits for a booting node, but fails at once while its Erlang VM has not started yet (systemd has
    # not got to it): asked again until the VM answers.
    deadline = started + 600
    for broker in work.brokers:
        argv = ["podman", "exec", broker, "rabbitmqctl", "await_startup", "--timeout", "600"]
        while (done := subprocess.run(argv, capture_output=True, text=True, timeout=660)).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{broker} did not start within 600 s: {done.stdout[-2000:]}{done.stderr[-2000:]}")
            time.sleep(1)
    nodes = time.monotonic() - started
    work.wait_ready("fleet", work.workers, timeout=300)
    return {"nodes_s": nodes, "workers_s": time.monotonic() - started}


class Sampler:
    """Samples a pair of RSS values once a second in a thread; keeps the highest of each."""

    def __init__(self, sample):
        self.sample, self.peak = sample, None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop.wait(1.0):
            with contextlib.suppress(Exception):
                values = self.sample()
                self.peak = values if self.peak is None else tuple(map(max, self.peak, values))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,4,10", help="provisioning's worker counts (default 1,4,10)")
    parser.add_argument(
        "--work-workers",
        default="1,2,4",
        help="worker containers running in the work and cluster runs, at most the largest --workers (default 1,2,4)",
    )
    parser.add_argument("--distro", default="bookworm", choices=["bookworm", "trixie"])
    parser.add_argument("--port", type=int, default=5681, help="loopback port of the bench broker (default 5681)")
    parser.add_argument("--count", type=int, default=3000, help="no-op tasks per throughput run (default 3000)")
    parser.add_argument("--io-count", type=int, default=1000, help="I/O tasks per throughput run (default 1000)")
    parser.add_argument("--latency-count", type=int, default=300, help="round trips per latency run (default 300)")
    parser.add_argument(
        "--strategies",
        default="stock,mitogen",
        help="Ansible strategies to time: stock (the default everywhere) and/or mitogen (default: both)",
    )
    parser.add_argument("--skip-provisioning", action="store_true", help="one fresh converge of N=max only")
    parser.add_argument("--skip-work", action="store_true", help="provisioning only")
    parser.add_argument("--skip-cluster", action="store_true", help="no three-broker cluster against the single one")
    parser.add_argument("--profile", action="store_true", help="also write the client's cProfile (.bench/profile-*)")
    parser.add_argument("--keep", action="store_true", help="leave the bench's containers running at the end")
    options = parser.parse_args()
    counts = sorted({int(n) for n in options.workers.split(",")})
    work_counts = sorted({int(n) for n in options.work_workers.split(",") if int(n) <= counts[-1]}) or counts[-1:]
    OUT.mkdir(exist_ok=True)

    started = time.monotonic()
    results = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "distro": options.distro,
        "cores": os.cpu_count(),
    }
    try:
        strategies = [name for name in ("mitogen", "stock") if name in options.strategies.split(",")]
        results["provisioning"] = provision(
            counts[-1:] if options.skip_provisioning else counts, options.distro, options.port, strategies
        )
        if not options.skip_work:
            work = Work(counts[-1], options.count, options.io_count, options.latency_count, options.profile)
            work.setup()
            try:
                results["work"], results["memory"] = [], {}
                work.measure(work_counts, results["work"], results["memory"])
            finally:
                work.teardown()
        if not (options.skip_work or options.skip_cluster):
            results["cluster"] = {"work": [], "memory": {}}
            cluster(work_counts[-1], options, results["cluster"])
    finally:
        if not options.keep:
            log("removing the bench's containers")
            with contextlib.suppress(Exception):
                containers("absent")
        # Whatever was measured is reported, also when a later step failed.
        results["seconds"] = time.monotonic() - started
        (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        text = report.write(results, OUT)
        report.into_doc(text, DOC)
        print(text)
        log(f"done in {results['seconds'] / 60:.1f} min: {OUT / 'report.md'}, {OUT / 'throughput.png'}, "
            f"{OUT / 'provisioning.png'}")  # fmt: skip


if __name__ == "__main__":
    main()
