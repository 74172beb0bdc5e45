# fleetimage.separated: developer and CI entry points.
#
#   make demo     builds a sample bundle and loads it through Ansible
#   make test     installs what it needs, runs all tests, ansible-test sanity and
#                 integration, and the linters, on the main ansible-core series
#   make test-fast  the unit and module tests only (no fleet, no engines), in
#                 parallel: under 2 minutes, for the edit-test loop
#   make matrix   the role, module and molecule tests on the other ansible-core
#                 series meta/runtime.yml claims (one .venv-SERIES each)
#   make docs     the docs site (antsibull-docs + Sphinx) in .build/docs/build/html
#
# Everything the targets create lives in .venv/, .venv-*/ and .build/ (git-ignored).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.requirements-dev.stamp
COLLECTIONS_DIR := .build/collections
COLLECTION_LINK := $(COLLECTIONS_DIR)/ansible_collections/fleetimage/separated

.PHONY: all venv system-deps collection sanity integration lint doclint test test-fast matrix docs demo clean

all: test

## venv: .venv with the pinned requirements-dev.txt (re-installed only when it changes)
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements-dev.txt
	@if [ ! -x "$(VENV_PY)" ]; then \
		echo "venv: creating $(VENV) with $$($(PYTHON) --version 2>&1)"; \
		$(PYTHON) -m venv "$(VENV)"; \
	fi
	"$(VENV_PY)" -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	@cp requirements-dev.txt "$(VENV_STAMP)"
	@echo "venv: $(VENV) is up to date with requirements-dev.txt"

## system-deps: container engines, sshd and tools for the real-engine and fleet tests (apt, as root)
system-deps:
	@bash scripts/install-system-deps.sh

## collection: lay the repository out as ansible_collections/fleetimage/separated
collection:
	@mkdir -p "$(dir $(COLLECTION_LINK))"
	@ln -sfn ../../../.. "$(COLLECTION_LINK)"
	@test -f "$(COLLECTION_LINK)/galaxy.yml" || { echo "collection: $(COLLECTION_LINK) does not reach galaxy.yml" >&2; exit 1; }
	@echo "collection: ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS_DIR)"

## sanity: ansible-test sanity on a copy of the tracked and untracked-not-ignored files
sanity: venv
	@bash scripts/sanity.sh

## integration: ansible-test integration (tests/integration/targets) on a copy of the collection
integration: venv
	@bash scripts/integration.sh

## lint: ansible-lint (production profile), yamllint, antsibull-changelog lint
lint: venv collection
	@bash scripts/lint.sh

## doclint: antsibull-docs lint-collection-docs --plugin-docs (plugin docs, docs/docsite/)
doclint: venv collection
	@bash scripts/doclint.sh

## test: pytest (all of tests/), ansible-test sanity and integration, the linters
test: system-deps venv collection
	@bash scripts/test.sh

## test-fast: pytest over tests/unit and tests/modules without the engine and fleet tests,
##            in parallel (pytest-xdist; TEST_WORKERS=0 for one process)
test-fast: venv collection
	@TEST_STEPS=pytest bash scripts/test.sh tests/unit tests/modules -m "not engine and not fleet and not slow"

## matrix: tests/fleet, tests/modules and the integration targets on every
##         requirements/ansible-core-SERIES.txt (MATRIX_SERIES="2.17" for one)
matrix: system-deps collection
	@bash scripts/matrix.sh $(MATRIX_SERIES)

## docs: the docs site as antsibull-docs builds it (sphinx-init --use-current, build.sh),
##       offline (no intersphinx); checks every plugin, role and guide has its page
DOCS_STAMP := $(VENV)/.requirements-docs.stamp
docs: venv collection $(DOCS_STAMP)
	@bash scripts/docs.sh

$(DOCS_STAMP): requirements/docs.txt $(VENV_STAMP)
	"$(VENV_PY)" -m pip install --disable-pip-version-check --quiet -r requirements/docs.txt
	@cp requirements/docs.txt "$(DOCS_STAMP)"

## demo: build a sample bundle and load it through Ansible
demo: system-deps venv collection
	@bash scripts/demo.sh

## clean: remove everything the targets created
clean:
	rm -rf "$(VENV)" .venv-* .build tests/output
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

## bench: load benchmark against the floor and isula-build's algorithm (README "Benchmarks");
##        BENCH_ARGS=--quick for small sizes; figures in benchmarks/out/
.PHONY: bench bench-fleet
bench: venv collection
	"$(VENV_PY)" -m pip install --disable-pip-version-check --quiet -r benchmarks/requirements.txt
	"$(VENV_PY)" benchmarks/bench.py $(BENCH_ARGS)

## bench-fleet: the rollout role over N = 10, 25, 50 loopback sshd hosts, before (BENCH_BEFORE, default 7272d84,
##              the last commit with the per-file role)
##              and after, beside `ansible -m ping`; figures in benchmarks/out/fleet.md (docs/docsite/rst/performance.rst)
bench-fleet: venv collection
	"$(VENV_PY)" benchmarks/fleet.py --before-ref "$${BENCH_BEFORE-7272d84}" $(BENCH_ARGS)

## bench-store: remove, prune, info and a no-op load at 5,000 to 100,000 names, and the peak memory of every
##              module on hostile bundles and stores (docs/docsite/rst/security.rst); figures in benchmarks/out/store_scale.*
.PHONY: bench-store
bench-store: venv collection
	"$(VENV_PY)" benchmarks/store_scale.py $(BENCH_STORE_ARGS)

## bench-engines: loads into podman, docker and containerd against each engine's own import
##                (256 MiB and 1 GiB; docs/docsite/rst/performance.rst); BENCH_ARGS="--sizes 64 --reps 1" for a quick look
.PHONY: bench-engines
bench-engines: venv collection
	"$(VENV_PY)" -m pip install --disable-pip-version-check --quiet -r benchmarks/requirements.txt
	"$(VENV_PY)" benchmarks/engines.py $(BENCH_ARGS)
