# mailtls: `make demo`, `make test`; `sh dev.sh ...` first installs make itself where it lacks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := dovecot-core dovecot-imapd dovecot-pop3d postfix certbot pebble dehydrated \
  prometheus-node-exporter debootstrap nsd ldnsutils unbound
# Started by the tests on loopback with their own configs (tests/dane/dns_servers.py); the
# packages' own services must not stay running: unbound's would answer on 127.0.0.1:53.
DNS_SERVICES := unbound nsd
# Dovecot 2.4 (Debian 13) in a chroot, the oracle of the 2.4 reader tests (built once, ~40 s):
# ../shared/notes/dovecot24-chroot.md
TRIXIE ?= /var/cache/mailtls-trixie

.PHONY: setup demo test lint unit debian-packages trixie fixtures bench clean golden fuzz

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dane]'
	touch $@

# The demo: the story's mail server (renewed leaf copied in without its new intermediate),
# on a copy: audit (exit 1), fix, audit clean (exit 0).
demo: setup
	sh fixtures/demo/run.sh $(BIN)/mailtls

# Debian's daemons are the oracles of the parser tests (doveconf, postconf), certbot and pebble
# (a local ACME server) those of `mailtls hook`; installed once.
debian-packages:
	@if ! dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1; then \
	  apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES) && \
	  for service in $(DNS_SERVICES); do \
	    if [ -d /run/systemd/system ]; then systemctl disable --now -q $$service; \
	    else invoke-rc.d $$service stop >/dev/null 2>&1; update-rc.d $$service disable >/dev/null 2>&1; \
	    fi; true; \
	  done; \
	fi

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q

trixie: debian-packages
	@if [ ! -x $(TRIXIE)/usr/bin/doveconf ]; then \
	  rm -rf $(TRIXIE).new && \
	  debootstrap --variant=minbase \
	    --include=dovecot-core,dovecot-imapd,dovecot-pop3d,dovecot-mysql \
	    trixie $(TRIXIE).new http://deb.debian.org/debian >$(TRIXIE).log 2>&1 \
	    || { tail -20 $(TRIXIE).log; exit 1; }; \
	  mv $(TRIXIE).new $(TRIXIE); \
	fi

test: setup debian-packages trixie lint unit

# Rebuild the committed certificate fixtures (fixed dates; keys kept in fixtures/keys).
fixtures: setup
	$(BIN)/python fixtures/build.py

# mailtls vs the `openssl verify` loop vs a plain Python loop on synthetic hosts of
# BENCH_SIZES domains (see benchmarks/harness.py), then the reader and in-process audit timings.
# BENCH_ARGS passes options on, e.g. BENCH_ARGS='--timeout 300 --runs 5'.
BENCH_SIZES ?= 100 1000 10000
BENCH_ARGS ?=
# audit --live against the real Dovecot and Postfix on loopback, LIVE_DOMAINS names on each.
LIVE_DOMAINS ?= 1000
bench: setup
	$(BIN)/python -m benchmarks.harness $(BENCH_SIZES) $(BENCH_ARGS)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/audit_bench.py
	$(BIN)/python benchmarks/live_bench.py --domains $(LIVE_DOMAINS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Rewrite the golden report files after a deliberate change; review `git diff tests/` after.
golden: setup
	MAILTLS_UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/report

# Fuzzing with atheris, outside the tests: each target for FUZZ_SECONDS (logs, corpora and any
# crash input under build/fuzz/). `make fuzz FUZZ_SECONDS=600` for a longer run.
FUZZ_SECONDS ?= 60
fuzz: setup
	$(BIN)/pip install -q atheris
	$(BIN)/python fuzz/run.py --seconds $(FUZZ_SECONDS)
