"""The benchmark's report: markdown tables, the ratios against the targets, and two PNG plots (bench/run.py).

Targets (issues "Performance, measured" and "Running the cluster"):
    provisioning   re-run <= 30% of a fresh converge; time(N=max, 10 workers) <= 2.0 x time(N=1)
    work           fleet >= 1.5 x the tutorial's throughput and >= 50% of the raw AMQP rate (no-op task, every
                   worker count); fleet p50 round trip <= the tutorial's; fleet >= 1.0 x Celery hardened by hand
    cluster        the fleet on three brokers with quorum queues >= 0.7 x on one broker with classic queues
"""

from pathlib import Path

TARGETS = {
    "rerun_over_fresh": 0.30,
    "fresh_scaling": 2.0,
    "fleet_over_tutorial": 1.5,
    "fleet_over_raw": 0.5,
    "fleet_over_hardened": 1.0,
    "cluster_over_single": 0.7,
}
SETUPS = ("fleet", "fleet-noconfirm", "fleet-events", "hardened", "tutorial", "raw")
KINDS = {"noop": "no-op", "io": "I/O"}
STRATEGIES = ("stock", "mitogen")


def verdict(ok):
    """A ratio against its target: met, missed, or None when it has no target (a figure, reported)."""
    if ok is None:
        return "a figure, no target"
    return "meets" if ok else "**misses**"


def provisioning_table(rows):
    lines = [
        "| workers | containers | Ansible | fresh converge | idempotent re-run | re-run / fresh | changed on re-run |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['workers']} | {row['workers'] + 1} | {row.get('strategy', 'stock')} | {row['fresh_s']:.0f} s "
            f"| {row['rerun_s']:.0f} s | {row['rerun_s'] / row['fresh_s']:.2f} | {row['rerun_changed']} |"
        )
    return lines


def provisioning_ratios(rows):
    """(name, value, target, ok) for the provisioning targets, per Ansible strategy."""
    ratios = []
    for strategy in STRATEGIES:
        mine = [row for row in rows if row.get("strategy", "stock") == strategy]
        for row in mine:
            value = row["rerun_s"] / row["fresh_s"]
            target = TARGETS["rerun_over_fresh"]
            name = f"{strategy}: re-run / fresh, N={row['workers']}"
            ratios.append((name, value, f"<= {target:.2f}", value <= target))
        if len(mine) > 1:
            first, last = mine[0], mine[-1]
            for key, what in (("fresh_s", "fresh"), ("rerun_s", "re-run")):
                value = last[key] / first[key]
                target = TARGETS["fresh_scaling"]
                name = f"{strategy}: {what} time(N={last['workers']}) / time(N={first['workers']})"
                ratios.append((name, value, f"<= {target:.1f}", value <= target))
    return ratios


def profile_top(text, limit=10):
    """The ``limit`` slowest tasks of a playbook's output, [(task, seconds)], from Ansible's profile_tasks summary
    (after the PLAY RECAP: "role : Task name ---- 1.23s", slowest first)."""
    summary = text.split("PLAY RECAP")[-1]
    rows = []
    for line in summary.splitlines():
        parts = line.rstrip().rsplit(" ", 1)
        if len(parts) == 2 and parts[1].endswith("s") and parts[0].rstrip().endswith("-"):
            name = parts[0].rstrip().rstrip("-").rstrip()
            try:
                rows.append((name, float(parts[1][:-1])))
            except ValueError:
                continue
    return sorted(rows, key=lambda row: -row[1])[:limit]


def profile_table(rows):
    """The slowest tasks of the stock runs that the targets read: the re-run and the fresh converge at the smallest
    and at the largest worker count."""
    stock = [row for row in rows if row.get("strategy", "stock") == "stock" and row.get("rerun_top")]
    if not stock:
        return []
    picked = dict.fromkeys([(0, "rerun"), (len(stock) - 1, "fresh"), (len(stock) - 1, "rerun")])
    lines = []
    for index, run in picked:
        row = stock[index]
        what = "idempotent re-run" if run == "rerun" else "fresh converge"
        lines += [
            f"**{what}, N={row['workers']}** ({row[f'{run}_s']:.0f} s in all):",
            "",
            "| task (all hosts) | seconds |",
            "|---|---:|",
            *(f"| {name} | {seconds:.1f} |" for name, seconds in row[f"{run}_top"]),
            "",
        ]
    return lines


def find(rows, setup, workers, kind):
    for row in rows:
        if (row["setup"], row["workers"], row["kind"]) == (setup, workers, kind):
            return row
    return None


def work_table(rows):
    lines = [
        "| workers | setup | no-op tasks/s | no-op p50 / p99 | I/O tasks/s | I/O p50 / p99 |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for workers in sorted({row["workers"] for row in rows}):
        for setup in SETUPS:
            cells = []
            for kind in ("noop", "io"):
                row = find(rows, setup, workers, kind)
                cells += [f"{row['rate']:.0f}", f"{row['p50_ms']:.1f} / {row['p99_ms']:.1f} ms"] if row else ["-", "-"]
            lines.append(f"| {workers} | {setup} | " + " | ".join(cells) + " |")
    return lines


def work_ratios(rows):
    """(name, value, target, ok) for the throughput and latency targets, per worker count."""
    ratios = []
    for workers in sorted({row["workers"] for row in rows}):
        fleet, tutorial, raw, hardened = (
            find(rows, setup, workers, "noop") for setup in ("fleet", "tutorial", "raw", "hardened")
        )
        if fleet and hardened:
            value, target = fleet["rate"] / hardened["rate"], TARGETS["fleet_over_hardened"]
            name = f"fleet / hardened by hand throughput, {workers} worker(s)"
            ratios.append((name, value, f">= {target:.2f}", value >= target))
        events = find(rows, "fleet-events", workers, "noop")
        if fleet and events:
            # What Flower's task events cost (workers send them with a monitor host): a figure, not a target.
            value = events["rate"] / fleet["rate"]
            ratios.append((f"fleet with task events / without, throughput, {workers} worker(s)", value, "-", None))
        if not (fleet and tutorial and raw):
            continue
        for name, value, key in (
            ("fleet / tutorial throughput", fleet["rate"] / tutorial["rate"], "fleet_over_tutorial"),
            ("fleet / raw AMQP throughput", fleet["rate"] / raw["rate"], "fleet_over_raw"),
        ):
            target = TARGETS[key]
            ratios.append((f"{name}, {workers} worker(s)", value, f">= {target:.2f}", value >= target))
        value = fleet["p50_ms"] / tutorial["p50_ms"]
        ratios.append((f"fleet / tutorial p50 round trip, {workers} worker(s)", value, "<= 1.00", value <= 1.0))
    return ratios


def cpu_table(rows, cores):
    """CPU time per task (ms) of each part in the no-op runs at the largest worker count, and the rate that CPU
    allows: ``cores`` seconds of CPU per second shared by all parts. Fixed costs (the client's start-up) and the
    containers' background work are spread over the run's tasks, which weighs on the fastest setups most."""
    workers = max(row["workers"] for row in rows)
    lines = [
        f"| setup ({workers} worker containers, no-op) | client | broker | workers | total | rate the CPU allows |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for setup in SETUPS:
        row = find(rows, setup, workers, "noop")
        if not row or "cpu_ms" not in row:
            continue
        cpu = row["cpu_ms"]
        total = cpu["client"] + cpu["broker"] + cpu["workers"]
        lines.append(
            f"| {setup} | {cpu['client']:.2f} ms | {cpu['broker']:.2f} ms | {cpu['workers']:.2f} ms | {total:.2f} ms "
            f"| {cores * 1000 / total:.0f} tasks/s |"
        )
    return lines


def memory_table(memory):
    """RSS at idle and under load: ``memory[state]`` is (worker node, broker node 1, broker node 2, ...) in KiB."""
    brokers = max(len(values) for values in memory.values()) - 1
    names = ["broker (Erlang VM)"] if brokers == 1 else [f"broker node {i} (Erlang VM)" for i in range(1, brokers + 1)]
    lines = [
        "| | worker node (main + pool, both groups) | " + " | ".join(names) + " |",
        "|---|" + "---:|" * (brokers + 1),
    ]
    for state in ("idle", "load"):
        if state in memory:
            label = "idle" if state == "idle" else "under load (peak, fastest no-op run)"
            lines.append(f"| {label} | " + " | ".join(f"{kib / 1024:.0f} MiB" for kib in memory[state]) + " |")
    return lines


def cluster_table(work, cluster):
    """The fleet at the cluster's worker count on one broker (classic queues) and on three (quorum queues)."""
    workers = max(row["workers"] for row in cluster["work"])
    lines = [
        f"| brokers ({workers} worker containers) | setup | no-op tasks/s | no-op p50 / p99 | I/O tasks/s "
        "| I/O p50 / p99 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, rows in (("1, classic queues", work), ("3, quorum queues", cluster["work"])):
        for setup in ("fleet", "fleet-noconfirm"):
            cells = []
            for kind in KINDS:
                row = find(rows, setup, workers, kind)
                cells += [f"{row['rate']:.0f}", f"{row['p50_ms']:.1f} / {row['p99_ms']:.1f} ms"] if row else ["-", "-"]
            lines.append(f"| {label} | {setup} | " + " | ".join(cells) + " |")
    return lines


def cluster_ratios(work, cluster):
    """(name, value, target, ok): the fleet's throughput on the cluster over on the single broker, per task kind."""
    ratios = []
    workers = max(row["workers"] for row in cluster["work"])
    target = TARGETS["cluster_over_single"]
    for kind, what in KINDS.items():
        single, three = find(work, "fleet", workers, kind), find(cluster["work"], "fleet", workers, kind)
        if single and three:
            value = three["rate"] / single["rate"]
            name = f"cluster / single broker throughput, {what}, {workers} worker(s)"
            ratios.append((name, value, f">= {target:.2f}", value >= target))
    return ratios


def ratio_table(ratios):
    lines = ["| ratio | measured | target | |", "|---|---:|---:|---|"]
    lines += [f"| {name} | {value:.2f} | {target} | {verdict(ok)} |" for name, value, target, ok in ratios]
    return lines


def markdown(results):
    lines = [
        f"# celery-fleet benchmark, {results.get('started', '')}",
        "",
        f"Debian {results.get('distro', '')} containers on this machine; one run of `make bench` "
        f"({results.get('seconds', 0) / 60:.0f} min).",
        "",
    ]
    ratios = []
    if results.get("provisioning"):
        lines += [
            "## Provisioning: `site.yml`, one broker + N workers",
            "",
            *provisioning_table(results["provisioning"]),
        ]
        lines.append("")
        top = profile_table(results["provisioning"])
        if top:
            lines += ["### Where the provisioning time goes: the slowest tasks (profile_tasks, stock Ansible)", ""]
            lines += top
        ratios += provisioning_ratios(results["provisioning"])
    if results.get("work"):
        lines += [
            "## The fleet at work: tasks/s from first send to last result, round trips one at a time",
            "",
            *work_table(results["work"]),
            "",
        ]
        ratios += work_ratios(results["work"])
    if any("cpu_ms" in row for row in results.get("work") or []):
        cores = results.get("cores", 1)
        lines += [
            f"## Where the time goes: CPU per task ({cores} cores shared by client, broker and workers)",
            "",
            *cpu_table(results["work"], cores),
            "",
        ]
    if results.get("memory"):
        lines += ["## Memory (RSS)", "", *memory_table(results["memory"]), ""]
    cluster = results.get("cluster") or {}
    if cluster.get("work") and results.get("work"):
        lines += [
            "## Three brokers (a cluster, quorum queues) against one (classic queues)",
            "",
            f"A fresh `site.yml` of the cluster and its workers took {cluster.get('fresh_s', 0):.0f} s.",
            "",
            *cluster_table(results["work"], cluster),
            "",
        ]
        ratios += cluster_ratios(results["work"], cluster)
    if cluster.get("cold_start"):
        cold = cluster["cold_start"]
        lines += [
            f"A cold start of the whole cluster (every node stopped, then all started at once): every node ran again "
            f"after {cold['nodes_s']:.0f} s, and every worker answered a ping after {cold['workers_s']:.0f} s.",
            "",
        ]
    if cluster.get("memory"):
        lines += ["### Memory of each broker node (RSS)", "", *memory_table(cluster["memory"]), ""]
    if ratios:
        lines += ["## Against the targets", "", *ratio_table(ratios), ""]
    return "\n".join(lines)


def finish_axis(axis, title, xlabel, ylabel, xticks):
    axis.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axis.set_xticks(xticks)
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend()


def save(plt, figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plots(results, out):
    """Write throughput.png and provisioning.png into ``out``; return the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    work = results.get("work") or []
    if work:
        figure, axes = plt.subplots(1, 2, figsize=(10, 4))
        for axis, kind, title in ((axes[0], "noop", "no-op task (fleet.add)"), (axes[1], "io", "I/O task (10 ms)")):
            for setup in SETUPS:
                points = sorted((r["workers"], r["rate"]) for r in work if r["setup"] == setup and r["kind"] == kind)
                if points:
                    axis.plot(*zip(*points, strict=True), marker="o", label=setup)
            finish_axis(axis, title, "worker containers", "tasks/s", sorted({r["workers"] for r in work}))
        written.append(save(plt, figure, Path(out) / "throughput.png"))
    provisioning = results.get("provisioning") or []
    if provisioning:
        figure, axis = plt.subplots(figsize=(6, 4))
        for strategy in STRATEGIES:
            rows = [row for row in provisioning if row.get("strategy", "stock") == strategy]
            if not rows:
                continue
            hosts = [row["workers"] + 1 for row in rows]
            axis.plot(hosts, [row["fresh_s"] for row in rows], marker="o", label=f"fresh converge ({strategy})")
            axis.plot(hosts, [row["rerun_s"] for row in rows], marker="s", linestyle="--", label=f"re-run ({strategy})")
        hosts = sorted({row["workers"] + 1 for row in provisioning})
        finish_axis(axis, "site.yml wall time", "containers (broker + workers)", "seconds", hosts)
        written.append(save(plt, figure, Path(out) / "provisioning.png"))
    return written


BEGIN = "<!-- BEGIN bench-run: written by make bench (bench/report.py), do not edit -->"
END = "<!-- END bench-run -->"


def into_doc(text, doc):
    """Put a run's markdown into ``doc`` (docs/performance.md) between its markers, headings two levels down.

    The figures in the docs are the last run's, written by that run: nobody types a timing.
    """
    demoted = "\n".join("##" + line if line.startswith("#") else line for line in text.splitlines())
    current = Path(doc).read_text()
    start, end = current.find(BEGIN), current.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{doc} lacks the markers {BEGIN!r} ... {END!r}")
    Path(doc).write_text(current[: start + len(BEGIN)] + "\n\n" + demoted.strip() + "\n\n" + current[end:])


def write(results, out):
    """Write report.md and the plots into ``out``; return the markdown."""
    text = markdown(results)
    (Path(out) / "report.md").write_text(text)
    plots(results, out)
    return text
