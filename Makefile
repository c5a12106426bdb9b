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
# Debian releases the molecule scenario runs on: bookworm (Debian 12) and trixie (Debian 13).
DISTROS ?= bookworm trixie
# Of those, the ones whose run also switches on mutual TLS and signed messages (FLEET_STRICT=1), so that each
# protection is proved on the same containers without a scenario of its own.
STRICT_DISTROS ?= trixie
# Of those, the ones whose verifier also runs the fault-injection suite (FLEET_FAULTS=1) on the same containers.
FAULTS_DISTROS ?= bookworm
# Of those, the ones whose verifier ends by switching the task queues to quorum queues (FLEET_QUORUM=1).
QUORUM_DISTROS ?= trixie
HOST_PACKAGES := podman runc debootstrap uidmap slirp4netns fuse-overlayfs python3-venv
# The molecule workers' journals (molecule/default/molecule.yml): removed after each run, with its containers.
MOLECULE_VOLUMES := celery-fleet-molecule-worker1-journal celery-fleet-molecule-worker2-journal

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
export CONTAINERS_CONF := $(CURDIR)/scripts/containers.conf
export PATH := $(BIN):$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: help deps host-deps venv images lab lab-down lint unit lab-test molecule faults test bench-deps bench clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

host-deps: ## Install podman, runc and debootstrap from Debian's packages when missing
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing $$missing"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BIN)/ansible-playbook: requirements.txt
	@echo "deps: creating the control-node virtualenv $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(BIN)/ansible-playbook ## Create .venv with the pinned control-node tools (requirements.txt)

deps: host-deps venv ## Install everything the other targets need

images: host-deps ## Build the local Debian base images (once; reused afterwards)
	@for d in $(sort bookworm $(DISTROS)); do scripts/base-image.sh $$d; done

lab: ## Start the fleet in containers here and run tasks through it (LAB_AMQP_PORT=5671, LAB_DISTRO=bookworm)
	@scripts/lab.sh up

lab-down: ## Remove the lab's containers, network and generated files (.lab/)
	@scripts/lab.sh down

lint: venv ## yamllint, ansible-lint (production profile), ruff, role docs in step with the argument specs
	yamllint --strict .
	ansible-lint --strict
	ruff check .
	ruff format --check .
	python scripts/role-docs.py --check

unit: venv bench-deps ## Unit tests: the tasks package (app/), client settings, the PKI, the preflight, the wiring filters, the bench report
	cd app && pytest -q
	pytest -q -p no:cacheprovider tests/test_preflight.py tests/test_client_settings.py tests/test_pki.py tests/test_bench_report.py \
	  tests/test_fleet_wiring.py tests/test_celery_worker_filters.py tests/test_rabbitmq_filters.py

lab-test: deps ## The README's main command end to end: make lab twice, the client env file, worker3, lab-down
	pytest -v -p no:cacheprovider tests/test_lab.py

molecule: deps images ## The fleet in containers: RabbitMQ on every distro in DISTROS (faults on bookworm; mTLS, signing, quorum on trixie), then Redis
	@for d in $(DISTROS); do \
	  strict=0; case " $(STRICT_DISTROS) " in *" $$d "*) strict=1;; esac; \
	  faults=0; case " $(FAULTS_DISTROS) " in *" $$d "*) faults=1;; esac; \
	  quorum=0; case " $(QUORUM_DISTROS) " in *" $$d "*) quorum=1;; esac; \
	  echo "=== molecule test (RabbitMQ) on $$d$$( [ $$faults = 1 ] && echo ', with the fault suite')$$( [ $$strict = 1 ] && echo ', with mutual TLS and signed messages')$$( [ $$quorum = 1 ] && echo ', then quorum queues')"; \
	  FLEET_DISTRO=$$d FLEET_STRICT=$$strict FLEET_FAULTS=$$faults FLEET_QUORUM=$$quorum molecule test; \
	  podman volume rm -f $(MOLECULE_VOLUMES) >/dev/null; \
	done
	@echo "=== molecule test -s redis (Redis broker and results, msgpack) on bookworm"
	molecule test -s redis

faults: deps images ## The fault-injection suite against the molecule fleet (brought up first when missing)
	molecule create
	molecule converge
	FLEET_FAULTS=1 FLEET_FAULTS_ONLY=1 molecule verify

test: deps lint unit lab-test molecule ## Everything: lint, unit tests, the lab, molecule on every distro

# Worker counts and options of the benchmark, e.g. make bench BENCH_WORKERS=1,2 BENCH_ARGS=--profile
BENCH_WORKERS ?= 1,2,4
BENCH_ARGS ?=
bench-deps: venv ## The benchmark's extras in .venv (bench/requirements.txt: plots, Mitogen)
	@pip install --quiet --disable-pip-version-check -r bench/requirements.txt

bench: deps images bench-deps ## Benchmark: converge time for 1, 2, 4 workers; throughput, latency, memory vs. baselines (.bench/)
	python bench/run.py --workers $(BENCH_WORKERS) $(BENCH_ARGS)

clean: ## Remove molecule's containers and the virtualenv
	-@[ -x $(BIN)/molecule ] && $(BIN)/molecule destroy >/dev/null 2>&1 || true
	-@podman volume rm -f $(MOLECULE_VOLUMES) >/dev/null 2>&1 || true
	-@[ -x $(BIN)/python ] && [ -f .bench/inventory/hosts.yml ] && $(BIN)/ansible-playbook -i .bench/inventory \
	  playbooks/lab.yml -e lab_state=absent >/dev/null 2>&1 || true
	rm -rf $(VENV) .bench
