# celery-fleet: the project's commands. `make help` lists them.
#
#   make lab        the whole fleet in containers on this machine, converged by site.yml; sends tasks through it
#   make test       lint, unit tests, the lab's end-to-end test, and the molecule scenario on every distro
#   make bench      provisioning time for 1, 2, 4 workers and the fleet's throughput against baselines (.bench/)
#   make deps       host packages (podman, runc, debootstrap) and the control-node virtualenv .venv
#
# Everything a target needs is installed by the target itself (through `deps`), on a fresh Debian machine with
# only git, python3 and root or sudo.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# The molecule scenarios, in the order `make molecule` runs them (molecule/<name>/molecule.yml says what each
# deploys and which test groups it runs): RabbitMQ on Debian 12 with the fault suite; RabbitMQ on Debian 13 with
# mutual TLS, signed messages and the switch to quorum queues; Redis.
SCENARIOS ?= default strict redis
HOST_PACKAGES := podman runc debootstrap uidmap slirp4netns fuse-overlayfs python3-venv chromium chromium-driver
# make test's second podman store (test-fleets below); generated, git-ignored.
LANE_STORAGE_CONF := $(CURDIR)/.podman-lane/storage.conf
# promtool, Prometheus' checker of rules and configurations, for lint and the alert rules' unit tests: unpacked from
# Debian's prometheus package into .tools/ (git-ignored), so the control node runs no Prometheus service.
PROMTOOL := $(CURDIR)/.tools/promtool
export PROMTOOL
# The default scenario's worker journals (molecule/default/molecule.yml): removed after each run, with its containers.
MOLECULE_VOLUMES := celery-fleet-molecule-worker1-journal celery-fleet-molecule-worker2-journal

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
export CONTAINERS_CONF := $(CURDIR)/scripts/containers.conf
export PATH := $(BIN):$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: help deps host-deps venv tools images lab lab-down lint unit screenshots lab-test examples-deps molecule faults cluster-faults test test-fleets \
  lab-test-in-lane-3 bench-deps bench clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

host-deps: ## Install podman, runc and debootstrap from Debian's packages when missing
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing $$missing"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/ansible-playbook: requirements.txt client/pyproject.toml
	@echo "deps: creating the control-node virtualenv $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@# The client library, editable: the lab's scripts, the bench and the verifiers import this tree's.
	@$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --editable ./client
	@touch $@

venv: $(BIN)/ansible-playbook ## Create .venv with the pinned control-node tools (requirements.txt)

$(PROMTOOL):
	@echo "deps: promtool from Debian's prometheus package, unpacked into $(@D) (no service)"
	@rm -rf $(@D)/deb && mkdir -p $(@D)/deb
	@# apt-get download needs the package lists, which a new machine may not have yet.
	@cd $(@D)/deb && { apt-get download -qq prometheus 2>/dev/null \
	  || { $(SUDO) apt-get update -qq && apt-get download -qq prometheus 2>/dev/null; }; }
	@dpkg-deb -x $(@D)/deb/prometheus_*.deb $(@D)/deb/root
	@cp $(@D)/deb/root/usr/bin/promtool $@
	@rm -rf $(@D)/deb

tools: $(PROMTOOL) ## promtool (Prometheus' checker) in .tools/, for lint and the alert rules' tests

deps: host-deps venv tools ## Install everything the other targets need

images: host-deps ## Build the local Debian base images (once; reused afterwards)
	@for d in bookworm trixie; do scripts/base-image.sh $$d; done

lab: ## Start the fleet in containers here and run tasks through it (LAB_AMQP_PORT=5671, LAB_DISTRO=bookworm, LAB_BROKERS=1|3, LAB_MONITORING=0|1)
	@scripts/lab.sh up

lab-down: ## Remove the lab's containers, network and generated files (.lab/)
	@scripts/lab.sh down

lint: venv tools ## yamllint, ansible-lint (production profile), ruff, role docs in step with the argument specs, promtool
	yamllint --strict .
	ansible-lint --strict
	ruff check .
	ruff format --check .
	python scripts/role-docs.py --check
	$(PROMTOOL) check rules roles/prometheus/files/*.yml

unit: venv tools bench-deps ## Unit tests: the tasks package (app/), the client library (client/), the PKI, the preflight, the filters, the restart decision, the wheelhouse, the bench and fault reports
	cd app && pytest -q
	cd client && pytest -q
	pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/test_preflight.py tests/test_client_settings.py tests/test_pki.py tests/test_bench_report.py \
	  tests/test_fleet_wiring.py tests/test_celery_worker_filters.py tests/test_rabbitmq_filters.py tests/test_celery_env.py \
	  tests/test_pins.py tests/test_systemd_stale_units.py tests/test_fault_report.py \
	  tests/test_podman_store.py tests/test_bench_baselines.py tests/test_queue_move.py \
	  tests/test_alert_rules.py tests/test_prometheus_filters.py tests/test_wheelhouse_filters.py tests/test_fleet_wheelhouse.py tests/test_locks.py

screenshots: deps images ## Flower's workers page and a Prometheus graph of task throughput, from the lab (make lab LAB_MONITORING=1), into docs/images/
	@LAB_MONITORING=1 scripts/lab.sh up
	python scripts/screenshots.py docs/images

lab-test: deps examples-deps ## The README's main command end to end: make lab, the client env file, the example clients, make lab again with worker3, the broker grown into a cluster, the queue move, lab-down
	pytest -v -p no:cacheprovider --durations 0 tests/test_lab.py

examples-deps: venv ## The example clients' own pins in .venv (examples/django-client/requirements.txt: Django)
	@pip install --quiet --disable-pip-version-check -r examples/django-client/requirements.txt

molecule: deps images ## The fleet in containers, every scenario in SCENARIOS (default, strict, redis): converge, idempotence, verify
	@for s in $(SCENARIOS); do \
	  echo "=== molecule test -s $$s"; \
	  molecule test -s $$s; \
	  podman volume rm -f $(MOLECULE_VOLUMES) >/dev/null; \
	done

faults: deps images ## The fault-injection suite alone, against the default scenario's fleet (brought up first when missing)
	molecule create
	molecule converge
	PYTEST_ADDOPTS="-k test_faults" molecule verify

cluster-faults: deps images ## The cluster's fault suite alone, against the strict scenario's 3 nodes; writes its table into docs/reliability.md
	molecule create -s strict
	molecule converge -s strict
	PYTEST_ADDOPTS="-k test_cluster_faults" FLEET_FAULTS_DOCS=1 molecule verify -s strict

test: deps images bench-deps lint ## Everything: lint, unit tests, the lab, molecule on every distro
	@$(MAKE) --no-print-directory -j3 --output-sync=target test-fleets

# make test's fleets, in three lanes. The CPU is the limit of this machine kind (2 cores): a fleet converging keeps
# both busy, while a fault suite's verifier mostly waits (restarts, network cuts, heartbeats) with the CPU idle; the
# other lanes fill it. The scenarios name their containers alike (worker1, worker2, broker), and two scenarios in one
# podman store would replace each other's: the second lane's scenario runs in a podman store of its own
# (LANE_STORAGE_CONF, tests/fleettest/podman_store.py), which reads the base images from the main store; the lab's
# containers have names of their own (celery-fleet-lab-*). The order (make -j3 follows the prerequisites below):
#   lane 1:  default up             ->  default verified  ->  redis up, verified
#   lane 2:  unit tests (make unit)  ->  strict up, verified (in the second store)
#   lane 3:  the lab test, once the strict scenario is up
# Two fleets converge at a time at most: the strict scenario (the cluster and its fault suite, the longest)
# converges while the default scenario's verifier waits on its faults, the lab while both verifiers wait; the unit
# tests run while the default scenario converges (lint runs before all: it is quick and catches most mistakes).
# "up" is molecule test's sequence up to idempotence; "verified" is verify, then destroy (whatever verify said).
# Each step's output is printed whole when it ends (--output-sync). make molecule runs the scenarios one by one.
test-fleets: molecule-verified-redis molecule-verified-strict lab-test-in-lane-3

lab-test-in-lane-3: molecule-up-strict
	@$(MAKE) --no-print-directory lab-test

molecule-up-strict: molecule-up-default unit $(LANE_STORAGE_CONF)
molecule-up-redis: molecule-verified-default
# The environment of a scenario's molecule and podman commands: the second store for the second lane's scenario.
MOLECULE_ENV_strict = CONTAINERS_STORAGE_CONF=$(LANE_STORAGE_CONF)
IN_STORE = env $(MOLECULE_ENV_$*)

$(LANE_STORAGE_CONF): tests/fleettest/podman_store.py
	@mkdir -p $(@D)
	@podman info --format json | $(BIN)/python tests/fleettest/podman_store.py > $@.tmp
	@mv $@.tmp $@

# molecule's idempotence step re-runs site.yml with every package index out of reach (pip's configuration files
# and find-links ignored, an index and a proxy that point nowhere): a re-run whose lock did not change needs none,
# the control node's wheelhouse cache serves it.
UNREACHABLE := http://127.0.0.1:9
OFFLINE_ENV := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_INDEX_URL=$(UNREACHABLE)/simple PIP_RETRIES=0 \
  http_proxy=$(UNREACHABLE) https_proxy=$(UNREACHABLE) HTTP_PROXY=$(UNREACHABLE) HTTPS_PROXY=$(UNREACHABLE)
STEP_ENV_idempotence := $(OFFLINE_ENV)

molecule-up-%:
	@echo "=== molecule -s $*: destroy, syntax, create, converge, idempotence (no package index)"
	@$(foreach step,destroy syntax create converge idempotence,\
	  $(IN_STORE) $(STEP_ENV_$(step)) molecule $(step) -s $* || { $(IN_STORE) molecule destroy -s $* >/dev/null 2>&1; exit 1; };)

molecule-verified-%: molecule-up-%
	@echo "=== molecule -s $*: verify, destroy"
	@rc=0; $(IN_STORE) molecule verify -s $* || rc=$$?; \
	$(IN_STORE) molecule destroy -s $*; $(IN_STORE) podman volume rm -f $(MOLECULE_VOLUMES) >/dev/null; exit $$rc

# Worker counts of provisioning and options of the benchmark, e.g. make bench BENCH_WORKERS=1,2 BENCH_ARGS=--profile
BENCH_WORKERS ?= 1,4,10
BENCH_ARGS ?=
bench-deps: venv ## The benchmark's extras in .venv (bench/requirements.txt: plots, Mitogen)
	@pip install --quiet --disable-pip-version-check -r bench/requirements.txt

bench: deps images bench-deps ## Benchmark: converge time for 1, 4, 10 workers; throughput, latency, memory vs. baselines (.bench/)
	python bench/run.py --workers $(BENCH_WORKERS) $(BENCH_ARGS)

clean: ## Remove molecule's containers and the virtualenv
	-@[ -x $(BIN)/molecule ] && $(BIN)/molecule destroy >/dev/null 2>&1 || true
	-@podman volume rm -f $(MOLECULE_VOLUMES) >/dev/null 2>&1 || true
	-@[ -f $(LANE_STORAGE_CONF) ] && CONTAINERS_STORAGE_CONF=$(LANE_STORAGE_CONF) podman rm -af >/dev/null 2>&1 || true
	-@[ -x $(BIN)/python ] && [ -f .bench/inventory/hosts.yml ] && $(BIN)/ansible-playbook -i .bench/inventory \
	  playbooks/lab.yml -e lab_state=absent >/dev/null 2>&1 || true
	rm -rf $(VENV) .bench .podman-lane .tools
