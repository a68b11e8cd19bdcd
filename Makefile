# allhours: `make demo` and `make test` install whatever is missing, then run.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian/Ubuntu packages the suite and the demo run for real.
APT_PACKAGES := mosquitto mosquitto-clients pcscd vsmartcard-vpcd libpcsclite-dev python3-venv python3-dev \
                build-essential pkg-config fonts-wqy-microhei tesseract-ocr fonts-ocr-b libegl1 libgl1-mesa-dri libgles2 libmtdev1 \
                chromium postgresql-15
# face_recognition needs dlib; dlib-bin is its prebuilt wheel (a source build takes ~6 min),
# so face-recognition itself goes in without its `dlib` requirement.
FACE_PINS := dlib-bin==20.0.1.post1 face-recognition-models==0.3.0
FACE_PKG  := face-recognition==1.3.0

.PHONY: help install apt venv demo test lint contract clean bench fuzz chaos

help:
	@echo "make demo     install what is missing, then play the whole story end to end"
	@echo "make test     install what is missing, then run the whole test suite"
	@echo "make install  only install (apt packages + .venv with .venv/bin/allhours)"
	@echo "make lint     ruff"
	@echo "make bench    run the benchmarks in benchmarks/"
	@echo "make fuzz     the property-based fuzz tests with many examples (FUZZ_EXAMPLES=5000)"
	@echo "make chaos    40 whole stories at 3 terminals on 2 brokers, 20 SIGKILLs of brokers, workers, terminals"

install: apt venv

apt:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# The packaged broker must not hold port 1883 on a dev box; we run private ones.
	@if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then \
	  $(SUDO) systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
	@# Likewise the packaged PostgreSQL: tests and benchmarks start private clusters.
	@if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet postgresql 2>/dev/null; then \
	  $(SUDO) systemctl disable --now postgresql >/dev/null 2>&1 || true; fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip "setuptools<81" wheel
	$(PIP) install -q $(FACE_PINS)
	$(PIP) install -q --no-deps $(FACE_PKG)
	$(PIP) install -q -e ".[dev,devices]"
	@$(PY) -c "import face_recognition, paho.mqtt, fastapi, sqlalchemy, smartcard, cv2" \
	  || { echo "dependency check failed"; exit 1; }
	@touch $@
	@echo "ready: $(VENV)/bin/allhours"

demo: install
	$(VENV)/bin/allhours demo

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The suite plays a bounded chaos run; this one plays 40 stories through 20 kills.
chaos: install
	$(PY) benchmarks/chaos.py 40 20 $${CHAOS_SEED:-1}

# The suite runs each fuzz property with a few examples; this runs them long, keeping what
# Hypothesis finds in var/hypothesis so a failure found once is replayed first next time.
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -p no:cacheprovider tests/unit/fuzz

contract: venv
	$(VENV)/bin/allhours contract export docs/contract

BENCHMARKS := ingest_throughput outbox_drain identity_emrtd_read identity_emrtd_protocols identity_cnid_read face_pipeline \
              identity_verified \
              locker_open page_finding glare_verdicts mrz_ocr usb_import usb_preview kiosk_ui pickup_identity progress_query \
              pickup_bruteforce tls_cost signing_cost notifications console_pages kiosk_bootstrap \
              bundle_rollout citizen_time fleet_presence chaos submission_to_queue command_round_trip \
              staged_rollout presence_history

bench: install
	@set -e; for b in $(BENCHMARKS); do echo "== $$b"; $(PY) benchmarks/$$b.py; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
