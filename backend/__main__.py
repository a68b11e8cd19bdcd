"""`python -m backend`: run a backend worker (MQTT ingest, the REST API, enrollment).

    python -m backend --settings /etc/allhours/backend.toml [--worker-id 2 ...]

The worker's settings come from its settings file (backend/settings.py,
docs/examples/backend.toml), the environment (`ALLHOURS_BACKEND_*`) over the file, and these
flags over both; backend/bootstrap.py builds the worker from them. A bad value stops it at
start with the file, the key and the reason (exit 2).
"""

from __future__ import annotations

import argparse
import gc
import logging
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from privacy.log_lines import one_line_handler, quiet_wire_loggers
from privacy.private_files import private_umask

from .bootstrap import build_backend
from .settings import BackendSettings, BackendSettingsError, load_backend_settings


def worker_id(text: str) -> str:
    """A worker's name: 1-32 of a-z, 0-9 and '-' (it becomes a client id and a CN)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", text):
        raise argparse.ArgumentTypeError(
            f"worker id {text[:40]!r}: 1-32 of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return text


def named_broker(text: str) -> tuple[str, str]:
    """NAME=HOST:PORT (checked with the rest of the settings)."""
    name, sep, address = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text[:80]!r}: expected NAME=HOST:PORT")
    return name, address


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The flags; one left out is None, and the settings file, environment or default rules."""
    p = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    p.add_argument("--settings", type=Path, help="the worker's settings file (TOML)")
    p.add_argument("--database-url")
    p.add_argument("--blob-dir", type=Path)
    p.add_argument("--broker-host")
    p.add_argument("--broker-port", type=int)
    p.add_argument(
        "--broker",
        action="append",
        dest="brokers",
        type=named_broker,
        metavar="NAME=HOST:PORT",
        help="a named broker, one per region or site group (repeatable; replaces the settings "
        "file's brokers table): ingested from, and the address in the bundle of each terminal "
        "`allhours provision token --broker NAME` assigns to it",
    )
    p.add_argument(
        "--ca-dir",
        type=Path,
        help="the site CA and registry (allhours provision init); the worker's broker "
        "certificate is issued from it on first start",
    )
    p.add_argument(
        "--worker-id",
        type=worker_id,
        help="this worker's name, distinct per worker (default 1): MQTT client id and "
        "certificate CN backend.<name>; workers share ingest through the shared group and run "
        "each scheduled job once per cluster",
    )
    p.add_argument("--enroll-host", help="HTTPS enrollment endpoint")
    p.add_argument("--enroll-port", type=int)
    p.add_argument(
        "--public-name",
        action="append",
        dest="public_names",
        help="a host name or address terminals use for broker and enrollment (repeatable)",
    )
    p.add_argument(
        "--shared-group",
        help="MQTT 5 shared-subscription group; more workers with other client ids share ingest",
    )
    p.add_argument(
        "--plain-subscriptions",
        action="store_true",
        default=None,
        help="plain filters instead (one worker; no gap after a Mosquitto 2.0 restart)",
    )
    p.add_argument("--http-host")
    p.add_argument("--http-port", type=int)
    p.add_argument("--code-ttl-days", type=float)
    p.add_argument("--command-ttl-minutes", type=float)
    p.add_argument(
        "--retention-days",
        type=int,
        help="days a closed case keeps personal data and scans (PIPL, default 180)",
    )
    p.add_argument(
        "--holidays",
        type=Path,
        action="append",
        metavar="FILE",
        help="a year's official holidays as JSON (see backend/workdays.py); repeatable",
    )
    p.add_argument("--log-level")
    return p.parse_args(argv)


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the flags set."""
    flags = {
        key: value
        for key, value in vars(args).items()
        if key in BackendSettings.model_fields and value is not None
    }
    if "brokers" in flags:
        flags["brokers"] = dict(flags["brokers"])
    return flags


def freeze_startup_heap() -> None:
    """Keep what the worker built at start (modules, mappings, settings) out of the collector.

    A full collection walks every tracked object: about 150,000 after the imports, for the
    garbage of a few batches. Each took 100-150 ms and together about 70 us of every ingested
    event's CPU (benchmarks/ingest_throughput.py); frozen, they cost about 1 us. What is frozen
    lives as long as the process anyway.
    """
    gc.collect()
    gc.freeze()


def configure_logging(level: int | str, stream: TextIO | None = None) -> None:
    """The worker's log: one line per record on stderr, text from outside escaped in it.

    Request paths, MQTT topics and event details reach log records; the formatter
    (privacy/log_lines.py) writes their newlines and other control characters as visible escapes,
    so no one can add a line of their own to what operators read. As `logging.basicConfig`, it
    adds no handler when the root logger has handlers already (`allhours backend` set them up).
    HTTP clients' wire logging (response headers with staff session cookies) stays off at any
    level, DEBUG included (`quiet_wire_loggers`).
    """
    logging.basicConfig(
        level=level, handlers=[one_line_handler(sys.stderr if stream is None else stream)]
    )
    quiet_wire_loggers()


def main(argv: list[str] | None = None) -> int:
    # Umask 077: whatever the worker creates without a mode of its own (the database, its
    # -wal and -shm, blobs, keys) is the worker's user's alone (privacy/private_files.py).
    with private_umask():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    try:
        settings = load_backend_settings(args.settings, flag_overrides(args))
    except BackendSettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        backend = build_backend(settings)
    except BackendSettingsError as exc:
        print(f"error: {args.settings or 'backend settings'}: {exc}", file=sys.stderr)
        return 2
    freeze_startup_heap()
    backend.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
