#!/usr/bin/env bash
# The lab: the whole fleet in podman containers on this machine, converged by the real site.yml.
#
#   scripts/lab.sh up      (make lab)       install what is missing, start the containers, converge, send tasks
#   scripts/lab.sh down    (make lab-down)  remove the containers, the network and .lab/ (the base image stays)
#   scripts/lab.sh playbook PLAYBOOK [options]  run another playbook (move-queues.yml, ...) on the running lab
#
# Settings (environment or make variables): LAB_AMQP_PORT (loopback port of the broker's AMQP over TLS, default 5671),
# LAB_DISTRO (bookworm or trixie, default bookworm), LAB_BROKERS (1, default, or 3: a RabbitMQ cluster, whose nodes
# publish their AMQP ports on LAB_AMQP_PORT and the two ports after it), LAB_MONITORING (0, default: none; 1:
# Prometheus and Flower on the broker host, published on loopback ports LAB_PROMETHEUS_PORT, default 9090, and
# LAB_FLOWER_PORT, default 5555). Inventory:
# inventory/lab/, and with LAB_BROKERS=3 also inventory/lab-cluster/ (two more broker hosts).
set -euo pipefail
cd "$(dirname "$0")/.."

action="${1:-up}"
repo="$PWD"
venv="$repo/.venv"
lab_dir="$repo/.lab"
distro="${LAB_DISTRO:-bookworm}"
export CONTAINERS_CONF="$repo/scripts/containers.conf"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"

# Extra variables for the lab playbooks, from LAB_* settings.
extra=(-e "lab_distro=$distro")
[ -n "${LAB_AMQP_PORT:-}" ] && extra+=(-e "lab_amqp_host_port=$LAB_AMQP_PORT")
[ -n "${LAB_PROMETHEUS_PORT:-}" ] && extra+=(-e "lab_prometheus_host_port=$LAB_PROMETHEUS_PORT")
[ -n "${LAB_FLOWER_PORT:-}" ] && extra+=(-e "lab_flower_host_port=$LAB_FLOWER_PORT")
# Monitoring is off by default: it adds Flower, Prometheus and an exporter per container to the converge, more than the 30 s
# the lab may spend on it. Off, no host is in the group named: the monitoring plays have nothing to do.
case "${LAB_MONITORING:-0}" in
  1) ;;
  0) extra+=(-e "fleet_monitor_group=lab_without_monitoring") ;;
  *) echo "lab: LAB_MONITORING must be 1 (Flower and Prometheus on the broker host) or 0 (none), not '$LAB_MONITORING'" >&2
     exit 1 ;;
esac
brokers="${LAB_BROKERS:-1}"
inventory=(-i inventory/lab)
case "$brokers" in
  1) ;;
  3) inventory+=(-i inventory/lab-cluster) ;;
  *) echo "lab: LAB_BROKERS must be 1 or 3 (a RabbitMQ cluster needs an odd number of nodes), not '$brokers'" >&2
     exit 1 ;;
esac

steps=()
step_start=$SECONDS
bold="" plain=""
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; fi
step() {  # step "what happens now": prints a header and records the previous step's duration
  finish_step
  step_name="$1"
  step_start=$SECONDS
  printf '\n%s==> %s%s\n' "$bold" "$1" "$plain"
}
finish_step() {
  if [ -n "${step_name:-}" ]; then steps+=("$(printf '%5d s  %s' $((SECONDS - step_start)) "$step_name")"); fi
  step_name=""
}
fail() { printf '\nlab: %s\n' "$*" >&2; exit 1; }

# The lab needs root: it installs Debian packages and runs rootful podman (systemd containers, a published port).
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || fail "the lab needs root (Debian packages, rootful podman) and sudo is not installed.
Run it as root, e.g.:  su -c 'make lab'"
  sudo -n true 2>/dev/null || echo "lab: the lab needs root (Debian packages, rootful podman); asking sudo"
  exec sudo --preserve-env=LAB_AMQP_PORT,LAB_DISTRO,LAB_BROKERS,LAB_MONITORING,LAB_PROMETHEUS_PORT,LAB_FLOWER_PORT,ANSIBLE_FORCE_COLOR,http_proxy,https_proxy,no_proxy \
    env LAB_OWNER="$(id -u):$(id -g)" "$0" "$@" || fail "sudo failed: run the lab as root or as a sudoer"
fi

playbook() { "$venv/bin/ansible-playbook" "${inventory[@]}" "$@"; }

# One lab per machine: its containers have fixed names and publish a fixed port, and each checkout has its own
# secrets and CA. playbooks/lab.yml labels the containers with the checkout that made them; another checkout's
# `make lab` or `make lab-down` refuses to touch them, instead of taking them over with new secrets.
lab_label=celery-fleet-lab  # playbooks/lab.yml's __lab_label; its value is the lab's network
# "container|checkout" for each of this machine's lab containers (a lab older than the label has no checkout path).
lab_containers="$(command -v podman >/dev/null &&
  podman ps --all --filter "label=$lab_label=celery-fleet-lab" \
    --format "{{.Names}}|{{index .Labels \"$lab_label.checkout\"}}" 2>/dev/null || true)"
owner="$(awk -F'|' '$2 ~ /^\// {print $2; exit}' <<<"$lab_containers")"
if [ -n "$owner" ] && [ "$owner" != "$(pwd -P)" ]; then
  containers=$(awk -F'|' '{print $1}' <<<"$lab_containers" | xargs)
  fail "this machine's lab belongs to another checkout: $owner
Its containers ($containers) hold that checkout's secrets and CA; this checkout ($(pwd -P)) leaves them alone.
To remove that lab:  cd $owner && make lab-down
If that checkout is gone:  podman rm -f $containers && podman network rm celery-fleet-lab"
fi

case "$action" in
  down)
    if [ ! -x "$venv/bin/ansible-playbook" ] || ! command -v podman >/dev/null; then
      echo "lab: nothing to remove (no podman or no .venv)"; rm -rf "$lab_dir"; exit 0
    fi
    ANSIBLE_DISPLAY_SKIPPED_HOSTS=false playbook playbooks/lab.yml -e lab_state=absent "${extra[@]}"
    echo "lab: removed the lab's containers, its network and .lab/ (the base image is kept)"
    exit 0
    ;;
  playbook)
    # Another playbook of this repository on the running lab, with its inventory (the brokers it runs with).
    shift
    [ $# -ge 1 ] || fail "usage: scripts/lab.sh playbook PLAYBOOK [ansible-playbook options], e.g. move-queues.yml"
    [ -f "$lab_dir/brokers" ] || fail "no lab runs here: make lab first"
    inventory=(-i inventory/lab)
    [ "$(cat "$lab_dir/brokers")" = 3 ] && inventory+=(-i inventory/lab-cluster)
    playbook "$@" "${extra[@]}"
    exit
    ;;
  up) ;;
  *) fail "unknown action '$action' (use up, down or playbook)" ;;
esac

total_start=$SECONDS

step "Host packages and the control-node virtualenv (make deps; installed only when missing)"
make --no-print-directory deps

step "Base image localhost/celery-fleet-base:$distro (built once with debootstrap, about 75 s)"
scripts/base-image.sh "$distro"

step "Check that podman can run a container"
if ! out=$(timeout 120 podman run --rm --network none "localhost/celery-fleet-base:$distro" /bin/true 2>&1); then
  fail "podman cannot run containers here:
$out
What to check: 'podman info' works; scripts/containers.conf selects runc (crun fails on cgroup v1 hosts) and
explicit ulimits; the kernel allows containers (not inside an unprivileged container). See the README's lab section."
fi
echo "ok"

# Ansible prints each task as it runs (what is happening now); skipped tasks are left out.
export ANSIBLE_DISPLAY_SKIPPED_HOSTS=false
export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.timer

# A running lab's broker grows into a cluster (1 to 3: two nodes join the running one, which keeps its queued tasks;
# docs/cluster.md, "Growing one broker into a cluster"); it does not shrink.
if [ -f "$lab_dir/brokers" ] && [ "$(cat "$lab_dir/brokers")" -gt "$brokers" ] &&
   [ -n "$(podman ps --all --quiet --filter label=celery-fleet-lab)" ]; then
  fail "the running lab has $(cat "$lab_dir/brokers") brokers, and LAB_BROKERS asks for $brokers: a cluster does not
shrink here. Remove the lab first (make lab-down), then: make lab LAB_BROKERS=$brokers"
fi

step "Containers: $brokers broker(s) and the workers of inventory/lab/hosts.yml (playbooks/lab.yml)"
playbook playbooks/lab.yml "${extra[@]}"
echo "$brokers" > "$lab_dir/brokers"

step "Converge the fleet: ansible-playbook ${inventory[*]} site.yml"
mkdir -p "$lab_dir"
playbook site.yml "${extra[@]}" | tee "$lab_dir/site.log"
changes=$(sed -n 's/.* changed=\([0-9]*\).*/\1/p' "$lab_dir/site.log" | awk '{s += $1} END {print s + 0}')

step "Send tasks by name from this machine, as a client (scripts/send_tasks.py, .lab/client.env)"
# shellcheck disable=SC1091
. "$lab_dir/lab.env"
set -a
# shellcheck disable=SC1091
. "$lab_dir/client.env"
set +a
"$venv/bin/python" scripts/send_tasks.py --fetch-url "$LAB_FETCH_URL"
finish_step

[ -n "${LAB_OWNER:-}" ] && chown -R "$LAB_OWNER" "$lab_dir"

printf '\n%s==> Done in %d s%s\n' "$bold" $((SECONDS - total_start)) "$plain"
printf '%s\n' "${steps[@]}"
if [ "$changes" = 0 ]; then
  echo "site.yml: 0 changes (the fleet was already converged)"
else
  echo "site.yml: $changes changes"
fi
cat <<EOT

The fleet runs in containers: $LAB_CONTAINERS
Send a task from this machine with the stock celery CLI:
  set -a && . .lab/client.env && set +a
  .venv/bin/celery call fleet.add --args '[2, 3]'
Inspect the workers as the monitoring identity:
  set -a && . .lab/monitor.env && set +a && .venv/bin/celery inspect ping
Follow a worker:   podman exec celery-fleet-lab-worker1 journalctl -fu celery-worker-default
Remove the lab:    make lab-down
EOT
if [ -n "${LAB_PROMETHEUS_URL:-}" ]; then
  cat <<EOT
Prometheus (the fleet's metrics and alerts; no login, this machine's loopback only):
  ${LAB_PROMETHEUS_URL}alerts   ${LAB_PROMETHEUS_URL}targets
EOT
fi
if [ -n "${LAB_FLOWER_URL:-}" ]; then
  cat <<EOT
Flower (workers and tasks; HTTPS with the lab's CA, .lab/pki/ca.crt; this machine's loopback only):
  ${LAB_FLOWER_URL}workers   user: operator, password: in .lab/secrets/fleet_flower_password
EOT
fi
