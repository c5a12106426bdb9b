"""The README's main command, end to end: `make lab` on this machine, as a newcomer runs it.

Runs the real commands (make lab, make lab-down, the stock celery CLI) against real containers, in order:
a taken port fails early; a fresh lab converges and runs tasks; another checkout's make lab and make lab-down leave
the running lab alone; the client env file works from this machine; adding worker3 to the lab inventory as
documented and running make lab again adds a worker and changes nothing else (the second run of make lab: every
other host reports no change but the broker's firewall, which now admits worker3, and Prometheus' configuration on
the broker host, which now scrapes it); move-queues.yml moves the task queues
to quorum queues on topic exchanges while tasks wait in the queue and a client keeps sending, and none is lost; make
lab-down removes the containers, the network and .lab/, and keeps the base image.
"""

import base64
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fleettest.wait import wait_for

REPO = Path(__file__).resolve().parent.parent
LAB_DIR = REPO / ".lab"
HOSTS = REPO / "inventory" / "lab" / "hosts.yml"
FLEET_VARS = REPO / "inventory" / "lab" / "group_vars" / "all" / "fleet.yml"
BIN = Path(sys.executable).parent
LABEL = "celery-fleet-lab"
NETWORK = "celery-fleet-lab"
IMAGE = "localhost/celery-fleet-base:bookworm"

pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="the lab needs podman (make deps)")


# Every make lab here runs with monitoring on (LAB_MONITORING=1; off by default, docs/lab.md), to prove the lab's
# Prometheus; a fleet without a monitor host is the redis scenario's (molecule/tests/1_fleet/test_monitoring_off.py).
LAB_ENV = {"ANSIBLE_NOCOLOR": "1", "LAB_MONITORING": "1"}


def run(*command, timeout=1200, env=None, check=True):
    result = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, **LAB_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        output = f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        pytest.fail(f"{' '.join(command)} exited {result.returncode}:\n{output}")
    return result


def lab_containers():
    return run("podman", "ps", "--all", "--filter", f"label={LABEL}", "--format", "{{.Names}}").stdout.split()


def recap(output):
    """PLAY RECAP lines of the last ansible-playbook run in ``output``: host -> changed count."""
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def changed_tasks(output, host):
    """Names of the tasks (and handlers) of ``output`` that report a change on ``host``."""
    names, current = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            current = line[len("TASK [") : line.rindex("]")]
        elif line.startswith("RUNNING HANDLER ["):
            current = line[: line.rindex("]") + 1]
        elif line.startswith(f"changed: [{host}]") and current not in names:
            names.append(current)
    return names


def sourced(env_file, *command):
    """``command`` run with ``env_file`` sourced into its environment, as the README tells a user to."""
    return ["bash", "-c", f'set -a && . {env_file} && set +a && exec "$@"', "client", *command]


def client(*command, timeout=120, env_file=".lab/client.env", check=True):
    """Run a command with the client env file sourced, as the README tells a user to."""
    return run(*sourced(env_file, *command), timeout=timeout, check=check)


def monitor(*command, timeout=120):
    """Run a command as the monitoring identity (celery inspect), with .lab/monitor.env sourced."""
    return client(*command, timeout=timeout, env_file=".lab/monitor.env")


# What docs/lab.md tells a reader to write before growing the lab's broker: keep the types its queues were declared
# with (a cluster's defaults are quorum queues on topic exchanges).
KEEP_TYPES = """
# The types the running broker holds (docs/lab.md, "Growing the lab's broker into a cluster").
fleet_queue_type: classic
fleet_task_exchange_type: direct
"""

# What docs/lab.md tells a reader to write before moving the lab's task queues: the types of a cluster's.
QUORUM_TYPES = """
# Quorum queues on topic exchanges (docs/lab.md, "Moving the task queues to quorum queues").
fleet_queue_type: quorum
fleet_task_exchange_type: topic
"""


def main_pid(container, unit):
    return run(
        "podman", "exec", container, "systemctl", "show", "--property", "MainPID", "--value", unit
    ).stdout.strip()


def journal(container, unit):
    return run("podman", "exec", container, "journalctl", "--no-pager", "-u", unit).stdout


@pytest.fixture(scope="module", autouse=True)
def clean_lab():
    """Start from no lab and leave none behind, whatever happens."""
    originals = {path: path.read_text() for path in (HOSTS, FLEET_VARS)}
    run("scripts/lab.sh", "down", timeout=300)
    yield
    for path, text in originals.items():
        path.write_text(text)
    run("scripts/lab.sh", "down", timeout=300, check=False)


def test_taken_loopback_port_fails_early_and_says_what_to_do():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = run("scripts/lab.sh", "up", env={"LAB_AMQP_PORT": str(port)}, check=False)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert f"Port 127.0.0.1:{port}, where the lab publishes the broker's AMQP port, is already in use" in output
    assert "LAB_AMQP_PORT=" in output
    assert lab_containers() == []


def test_make_lab_brings_up_the_fleet_and_runs_tasks_through_it():
    output = run("make", "lab").stdout
    table = output[output.index("ran on (node)") :]
    assert re.search(r"^fleet\.add\s+\[2, 3\]\s+celery\s+default@worker1\s+ok\s+5\s", table, re.M), table
    assert re.search(r"^fleet\.whoami\s+\[\]\s+celery\s+default@worker1\s+ok\s+hostname=worker1\s", table, re.M)
    assert re.search(r"^fleet\.fetch_url\s+.*\s+io\s+io@worker2\s+ok\s+200\s", table, re.M), table
    assert "==> Done in" in output
    assert sorted(lab_containers()) == ["celery-fleet-lab-mq", "celery-fleet-lab-worker1", "celery-fleet-lab-worker2"]
    # With monitoring on, Prometheus on the broker host, published on this machine's loopback, scrapes every host and
    # the broker, and make lab says where it is.
    assert "Prometheus (the fleet's metrics and alerts" in output
    assert "http://127.0.0.1:9090/alerts" in output
    expected = {("prometheus", "mq"), ("flower", "mq"), ("rabbitmq", "mq"), ("rabbitmq_queues", "mq")} | {
        ("node", host) for host in ("mq", "worker1", "worker2")
    }
    wait_for(lambda: prometheus_targets() == dict.fromkeys(expected, "up"), 60, what=lambda: prometheus_targets())
    # Flower, over HTTPS on this machine's loopback: its login is required, and with it every worker node is online.
    assert "https://127.0.0.1:5555/workers" in output
    assert "password: in .lab/secrets/fleet_flower_password" in output
    assert flower("/api/workers", login=False)[0] == 401
    wait_for(lambda: flower_online() == {"default@worker1": True, "io@worker2": True}, 60, what=lambda: flower_online())


def flower(path, login=True):
    """(status, body) of a request to the lab's Flower through its published port, verified with the lab's CA."""
    request = urllib.request.Request(f"https://127.0.0.1:5555{path}")
    if login:
        password = (LAB_DIR / "secrets" / "fleet_flower_password").read_text().split()[0]
        request.add_header("Authorization", "Basic " + base64.b64encode(f"operator:{password}".encode()).decode())
    context = ssl.create_default_context(cafile=str(LAB_DIR / "pki" / "ca.crt"))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310 (https only)
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def flower_online():
    """{worker node: online} as the lab's Flower sees them."""
    status, body = flower("/api/workers?status=true")
    return json.loads(body) if status == 200 else {}


def prometheus_targets():
    """{(job, instance): health} of the lab's Prometheus, through its published loopback port."""
    with urllib.request.urlopen("http://127.0.0.1:9090/api/v1/targets?state=active", timeout=10) as answer:
        targets = json.load(answer)["data"]["activeTargets"]
    return {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}


def test_a_second_checkout_leaves_the_running_lab_alone(tmp_path):
    """Another checkout's make lab and lab-down refuse, naming the checkout that owns the lab and how to remove it."""
    other = tmp_path / "other-checkout"
    shutil.copytree(REPO, other, ignore=shutil.ignore_patterns(".venv", ".lab", ".bench", ".git", "__pycache__"))
    owner = str(REPO.resolve())
    for action in ("up", "down"):
        result = run(str(other / "scripts" / "lab.sh"), action, check=False, timeout=120)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output[-3000:]
        assert f"this machine's lab belongs to another checkout: {owner}" in output, output[-3000:]
        assert f"cd {owner} && make lab-down" in output
    assert not (other / ".lab").exists()
    labels = run(
        "podman",
        "ps",
        "--all",
        "--filter",
        f"label={LABEL}",
        "--format",
        '{{index .Labels "celery-fleet-lab.checkout"}}',
    )
    assert set(labels.stdout.split()) == {owner}
    # The first checkout's lab still works with its own client env file.
    assert client(str(BIN / "celery"), "call", "fleet.add", "--args", "[1, 2]").returncode == 0
    ping = monitor(str(BIN / "celery"), "inspect", "ping").stdout
    assert "default@worker1: OK" in ping


def test_client_env_file_works_with_the_stock_celery_cli():
    env_file = LAB_DIR / "client.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert 'CELERY_BROKER_URL="amqps://fleet-client:' in env_file.read_text()
    assert '@127.0.0.1:5671/fleet"' in env_file.read_text()

    # The client identity may send tasks, not remote-control commands; the monitoring identity may inspect.
    refused = client(str(BIN / "celery"), "inspect", "ping", check=False)
    assert refused.returncode != 0
    assert "ACCESS_REFUSED" in refused.stdout + refused.stderr
    ping = monitor(str(BIN / "celery"), "inspect", "ping").stdout
    assert "default@worker1: OK" in ping
    assert "io@worker2: OK" in ping

    task_id = client(str(BIN / "celery"), "call", "fleet.add", "--args", "[20, 22]").stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", task_id), task_id

    def journal_with_task():
        log = journal("celery-fleet-lab-worker1", "celery-worker-default")
        return log if f"Task fleet.add[{task_id}] succeeded" in log else None

    log = wait_for(journal_with_task, 30, what=f"fleet.add[{task_id}] in worker1's journal")
    assert re.search(rf"Task fleet\.add\[{task_id}\] succeeded in [0-9.e-]+s: 42", log)


def test_readme_python_snippet_works_from_this_machine():
    readme = (REPO / "README.md").read_text()
    snippet = re.search(r"<!-- lab-client-snippet -->\s*```python\n(.*?)```", readme, re.S).group(1)
    result = client(str(BIN / "python"), "-c", snippet)
    assert result.stdout.strip().splitlines()[-1] == "5", result.stdout


@pytest.mark.parametrize("example", ["django-client", "plain-celery-client"])
def test_an_existing_app_example_sends_tasks_by_name_and_reads_the_results(example):
    """examples/<example>'s own tests, run against the lab: they skip without FLEET_ENV_FILE, so none may skip."""
    result = run(
        str(BIN / "pytest"),
        "-p",
        "no:cacheprovider",
        "-q",
        "-rs",
        str(REPO / "examples" / example),
        env={"FLEET_ENV_FILE": str(LAB_DIR / "client.env")},
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "skipped" not in output, output[-3000:]
    assert re.search(r"\b[1-9][0-9]* passed", output), output[-3000:]


def test_adding_worker3_to_the_lab_inventory_adds_a_worker_and_changes_nothing_else():
    original = HOSTS.read_text()
    assert "        # worker3:\n" in original, "the documented scale-out line is missing from inventory/lab/hosts.yml"
    HOSTS.write_text(original.replace("        # worker3:\n", "        worker3:\n"))
    try:
        output = run("make", "lab").stdout
    finally:
        HOSTS.write_text(original)
    site_output = output[output.index("ansible-playbook -i inventory/lab site.yml") :]
    site_recap = recap(site_output)
    assert site_recap["worker3"] > 0, site_recap
    assert {host: changed for host, changed in site_recap.items() if host != "worker3"} == {
        "localhost": 0,
        "mq": 4,
        "worker1": 0,
        "worker2": 0,
    }
    # On the broker, only its firewall changed, which now lets worker3 in (the rules, then their reload), and on the
    # monitor host (the broker host too) Prometheus' configuration, which now scrapes worker3.
    assert changed_tasks(site_output, "mq") == [
        "rabbitmq : Write the broker's firewall rules",
        "rabbitmq : Load the broker's new firewall rules",
        "prometheus : Write Prometheus' configuration",
        "prometheus : Reload Prometheus' configuration and rules",
    ]
    wait_for(lambda: prometheus_targets().get(("node", "worker3")) == "up", 60, what=lambda: prometheus_targets())
    # Flower sees worker3's nodes come online from their events: nothing on the monitor host changed for it.
    wait_for(lambda: flower_online().get("io@worker3") is True, 60, what=lambda: flower_online())
    # worker3 serves every group (no fleet_worker_serves) and takes its share of the work.
    ping = monitor(str(BIN / "celery"), "inspect", "ping").stdout
    assert "default@worker3: OK" in ping
    assert "io@worker3: OK" in ping
    script = (
        "from celery import Celery\n"
        "import json\n"
        "app = Celery()\n"
        "results = [app.send_task('fleet.whoami') for _ in range(40)]\n"
        "print(json.dumps(sorted({r.get(timeout=30)['hostname'] for r in results})))\n"
    )
    hostnames = json.loads(client(str(BIN / "python"), "-c", script).stdout.strip().splitlines()[-1])
    assert hostnames == ["worker1", "worker3"]


# A client as docs/lab.md's reader has one: the client env file and Celery, no tasks code. It sends `queued` tasks,
# says so (their ids, one JSON line), then one task every half second until the stop file appears, and prints every
# id it sent, and the sends that raised (a client that was told its task was not sent has not lost it).
SENDER = """
import json, pathlib, sys, time
from celery import Celery

app = Celery()
queued, stop = int(sys.argv[1]), pathlib.Path(sys.argv[2])
sent, refused = [], []


def send():
    try:
        sent.append(app.send_task("fleet.add", args=[len(sent), 0]).id)
    except Exception as error:
        refused.append(repr(error))


for _ in range(queued):
    send()
print(json.dumps(sent), flush=True)
while not stop.exists():
    send()
    time.sleep(0.5)
print(json.dumps({"sent": sent, "refused": refused}), flush=True)
"""
QUEUED = 30
GROWTH_BEGIN = "<!-- BEGIN growth: written by the lab test (FLEET_FAULTS_DOCS=1), do not edit -->"
GROWTH_END = "<!-- END growth -->"


def rabbitmqctl(node, command, *arguments):
    """rabbitmqctl on a lab broker node; a listing reads the fleet's vhost, as a table without headers unless it asks
    for another --formatter (rabbitmqctl refuses both)."""
    if command.startswith("list_"):
        headers = () if "--formatter" in arguments else ("--no-table-headers",)
        arguments = ("-p", "fleet", *headers, *arguments)
    return run("podman", "exec", f"celery-fleet-lab-{node}", "rabbitmqctl", "--quiet", command, *arguments).stdout


def listing(node, command, *columns):
    """A rabbitmqctl listing of two columns as a dict (name -> value)."""
    return dict(line.split("\t") for line in rabbitmqctl(node, command, *columns).splitlines())


def under_load(tmp_path, command, env=None):
    """Run ``command`` (a lab command) with tasks waiting in the queue and a client sending throughout; count them.

    The lab's workers are stopped first, so that QUEUED tasks wait in the broker's queue when the command starts;
    the command must bring the workers back. Every task sent is then looked for, by id, in worker1's journal, which
    records the work itself (an rpc:// result can be lost with a client's reply queue while its task ran). Returns
    the command's output and the counts (a row of the growth table); fails when a task sent is not found.
    """
    for worker in ("worker1", "worker2", "worker3"):
        run("podman", "exec", f"celery-fleet-lab-{worker}", "systemctl", "stop", "celery-worker-*", check=False)
    stop = tmp_path / "stop"
    sender = subprocess.Popen(
        sourced(".lab/client.env", str(BIN / "python"), "-c", SENDER, str(QUEUED), str(stop)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        queued = json.loads(sender.stdout.readline() or "[]")
        assert len(queued) == QUEUED, "the client could not send its first tasks"
        assert int(listing("mq", "list_queues", "name", "messages")["celery"]) >= QUEUED
        started = time.monotonic()
        output = run(*command, env=env).stdout
        seconds = time.monotonic() - started
    finally:
        stop.touch()
        stdout, stderr = sender.communicate(timeout=120)
    report = json.loads(stdout.strip().splitlines()[-1])
    sent = report["sent"]

    def succeeded():
        log = journal("celery-fleet-lab-worker1", "celery-worker-default")
        return re.findall(r"Task fleet\.add\[([0-9a-f-]{36})\] succeeded", log)

    def tally():
        done = [task for task in succeeded() if task in set(sent)]
        return {
            "sent": len(sent),
            "queued": len(queued),
            "completed": len(set(done)),
            "lost": len(set(sent) - set(done)),
            "duplicated": len({task for task in done if done.count(task) > 1}),
            "refused": len(report["refused"]),
            "seconds": round(seconds),
        }

    wait_for(lambda: set(sent) <= set(succeeded()), 300, what=lambda: f"every task in worker1's journal: {tally()}")
    # The client kept sending throughout (a send refused while a node restarts raised in the client, which knows its
    # task was not sent: not a lost task, and counted apart).
    assert len(sent) - len(queued) >= 20, (tally(), report["refused"][-5:], stderr[-3000:])
    return output, tally()


@pytest.fixture(scope="module")
def growth_table():
    """The growth and the queue move's counts: printed, written to growth-report.md (git-ignored) and, with
    FLEET_FAULTS_DOCS=1 and both rows, into docs/reliability.md between its markers."""
    rows = []
    yield rows
    if not rows:
        return
    head = "| step | sent | queued before | completed | lost | duplicated | sends refused | run s |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|"
    lines = [
        f"| {row['step']} | {row['sent']} | {row['queued']} | {row['completed']} | {row['lost']} | "
        f"{row['duplicated']} | {row['refused']} | {row['seconds']} |"
        for row in rows
    ]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = f"The lab (Debian 12 containers); run at {when}.\n\n" + "\n".join([head, rule, *lines]) + "\n"
    print("\n" + text)
    (REPO / "growth-report.md").write_text(f"# Growing the lab's broker into a cluster\n\n{text}")
    if os.environ.get("FLEET_FAULTS_DOCS") == "1" and len(rows) == 2:
        doc = REPO / "docs" / "reliability.md"
        current = doc.read_text()
        start, end = current.find(GROWTH_BEGIN), current.find(GROWTH_END)
        assert 0 <= start < end, f"{doc} lacks the markers {GROWTH_BEGIN!r} ... {GROWTH_END!r}"
        doc.write_text(current[: start + len(GROWTH_BEGIN)] + "\n\n" + text.strip() + "\n\n" + current[end:])


def test_growing_the_running_broker_into_a_cluster_loses_no_queued_task(tmp_path, growth_table):
    """docs/lab.md: two inventory lines keep the broker's queue types, make lab LAB_BROKERS=3 does the rest."""
    original = FLEET_VARS.read_text()
    FLEET_VARS.write_text(original + KEEP_TYPES)
    try:
        output, counts = under_load(tmp_path, ["make", "lab"], env={"LAB_BROKERS": "3"})
    finally:
        FLEET_VARS.write_text(original)
    growth_table.append({"step": "1. make lab LAB_BROKERS=3: two new nodes join the running broker", **counts})

    site_recap = recap(output[output.index("ansible-playbook -i inventory/lab -i inventory/lab-cluster site.yml") :])
    assert site_recap["mq2"] > 0 and site_recap["mq3"] > 0, site_recap
    for node in ("mq", "mq2", "mq3"):
        status = json.loads(rabbitmqctl(node, "cluster_status", "--formatter", "json"))
        assert sorted(status["running_nodes"]) == ["rabbit@mq", "rabbit@mq2", "rabbit@mq3"], (node, status)
    # The queues kept their type (classic, as the two inventory lines say), on the node that held them.
    assert listing("mq", "list_queues", "name", "type")["celery"] == "classic"


def test_moving_the_task_queues_to_quorum_queues_loses_no_queued_task(tmp_path, growth_table):
    """docs/lab.md: without the two lines, move-queues.yml moves the grown cluster's task queues to quorum queues
    on topic exchanges (the two lines written here say so on one broker too)."""
    broker_pid = main_pid("celery-fleet-lab-mq", "rabbitmq-server")
    original = FLEET_VARS.read_text()
    FLEET_VARS.write_text(original + QUORUM_TYPES)
    try:
        output, counts = under_load(tmp_path, ["scripts/lab.sh", "playbook", "move-queues.yml"])
    finally:
        FLEET_VARS.write_text(original)
    growth_table.append({"step": "2. move-queues.yml: the task queues become quorum queues", **counts})
    assert "Moving to quorum queues on topic exchanges: celery, io" in output
    # Nothing restarted the broker for the move: its shovel plugin came and went without a trace in its configuration.
    assert main_pid("celery-fleet-lab-mq", "rabbitmq-server") == broker_pid

    types = listing("mq", "list_queues", "name", "type")
    assert (types["celery"], types["io"]) == ("quorum", "quorum"), types
    assert not [name for name in types if name.startswith("celery-fleet.moving.")], types
    exchanges = listing("mq", "list_exchanges", "name", "type")
    assert (exchanges["celery"], exchanges["io"]) == ("topic", "topic"), exchanges
    # Each quorum queue has a member on every node of the grown cluster.
    members = json.loads(rabbitmqctl("mq", "list_queues", "name", "members", "--formatter", "json"))
    assert {queue["name"]: len(queue["members"]) for queue in members if queue["name"] in ("celery", "io")} == {
        "celery": 3,
        "io": 3,
    }
    # Publishing is no longer paused, the shovels are gone.
    assert run("podman", "exec", "celery-fleet-lab-mq", "rabbitmq-diagnostics", "-q", "check_alarms").returncode == 0
    assert "shovel" not in rabbitmqctl("mq", "list_parameters", "-p", "fleet")
    # A client with the env file written before the move still sends, through the exchange of the same name.
    task_id = client(str(BIN / "celery"), "call", "fleet.add", "--args", "[1, 1]").stdout.strip()
    wait_for(
        lambda: f"Task fleet.add[{task_id}] succeeded" in journal("celery-fleet-lab-worker1", "celery-worker-default"),
        60,
        what=f"fleet.add[{task_id}] in worker1's journal",
    )


def test_make_lab_down_removes_the_lab_and_nothing_else():
    run("make", "lab-down", timeout=300)
    assert lab_containers() == []
    assert run("podman", "network", "exists", NETWORK, check=False).returncode != 0
    assert not LAB_DIR.exists()
    assert run("podman", "image", "exists", IMAGE, check=False).returncode == 0
