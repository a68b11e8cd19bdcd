"""The `allhours` command line."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from privacy.log_lines import one_line_handler, quiet_wire_loggers
from privacy.private_files import private_umask

# The commands that write personal data, keys or scans (the backend's database and blob store,
# the terminal's databases): they run with umask 077 (privacy/private_files.py), a second wall
# behind the modes those files are created with. Not `update`: root unpacks releases there that
# the kiosk's user must read.
PRIVATE_DATA_COMMANDS = frozenset({"backend", "demo", "kiosk", "terminal"})


def _setup_logging(verbose: bool) -> None:
    """Every `allhours` process (the kiosk among them) logs one line per record to stderr.

    The formatter (privacy/log_lines.py) escapes newlines and other control characters in the
    line, so text from outside in a record cannot start a line of its own. HTTP clients' wire
    logging (headers with session cookies) stays off at any level (`quiet_wire_loggers`), even
    when the root logger was set up before this, which then adds no handler.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, handlers=[one_line_handler(sys.stderr)]
    )
    quiet_wire_loggers()


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .signals import exit_on_stop_signals

    exit_on_stop_signals()  # stopped mid-story, it still stops its broker and backend
    keep = args.keep_running
    if keep is None:  # someone at a terminal wants to look; a script wants the exit status
        keep = sys.stdin.isatty() and sys.stdout.isatty()
    return run_demo(workdir=args.workdir, keep_running=keep)


def cmd_terminal(args: argparse.Namespace) -> int:
    from cloud_bridge.contract.messages import utcnow

    from .commands.kiosk import NEEDS_SETTINGS
    from .commands.kiosk import run as run_kiosk
    from .headless import ScriptError, run_script
    from .settings import ENV_SETTINGS_FILE, SettingsError, load_terminal_config

    if not args.headless:
        return run_kiosk(args)
    if args.script is None:
        print("--headless needs --script FILE", file=sys.stderr)
        return 2
    path = args.settings or os.environ.get(ENV_SETTINGS_FILE)
    if not path:
        print(NEEDS_SETTINGS, file=sys.stderr)
        return 2
    try:
        return run_script(args.script, config=load_terminal_config(path, utcnow()))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ScriptError as exc:
        print(f"script error: {exc}", file=sys.stderr)
        return 2


# Where `allhours backend` keeps a development backend when no settings file says otherwise.
BACKEND_DEV_DEFAULTS = {
    "database_url": "sqlite:///var/backend.sqlite",
    "blob_dir": "var/blobs",
    "ca_dir": "var/site-ca",
}
_BACKEND_FLAGS = (
    "database_url",
    "blob_dir",
    "broker_host",
    "broker_port",
    "http_host",
    "http_port",
    "ca_dir",
    "enroll_port",
    "worker_id",
)


def cmd_backend(args: argparse.Namespace) -> int:
    """`python -m backend` with these flags: a settings file, if given, holds the rest."""
    from backend.__main__ import main as backend_main

    given = {key: getattr(args, key) for key in _BACKEND_FLAGS if getattr(args, key) is not None}
    values = given if args.settings else {**BACKEND_DEV_DEFAULTS, **given}
    argv = ["--settings", str(args.settings)] if args.settings else []
    for key, value in values.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    for broker in args.brokers or ():
        argv += ["--broker", broker]
    return backend_main(argv)


def cmd_broker(args: argparse.Namespace) -> int:
    from provisioning.authority import EnrollmentRefused, SiteAuthority

    from .broker import PrivateMosquitto
    from .signals import exit_on_stop_signals, wait_for_signal

    exit_on_stop_signals()
    try:
        authority = SiteAuthority(args.ca_dir)
    except EnrollmentRefused as exc:
        print(f"error: {exc.message} (allhours provision init)", file=sys.stderr)
        return 2
    broker = PrivateMosquitto(
        args.dir, authority, args.port, bind=args.bind, server_names=tuple(args.public_name)
    ).start()
    print(f"mosquitto listening on {broker.url} (dir {args.dir}); Ctrl-C stops it")
    try:
        wait_for_signal()
    finally:
        broker.stop()
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    from cloud_bridge.contract import schema

    for path in schema.export(args.directory):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="allhours", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="play the whole story: broker, backend, emulated terminal")
    p.add_argument(
        "--keep-running",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="leave broker, backend, console and terminal up afterwards, until Ctrl-C "
        "(default: when run at a terminal; without one the demo exits with its status)",
    )
    p.add_argument("--workdir", type=Path, default=None, help="default: var/demo-<time>")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("terminal", help="run a terminal")
    p.add_argument("--headless", action="store_true", help="no UI: drive the flows by script")
    p.add_argument("--script", type=Path, default=None, help="TOML script (with --headless)")
    p.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="the terminal's settings file (default: $ALLHOURS_SETTINGS)",
    )
    p.set_defaults(func=cmd_terminal)

    p = sub.add_parser("backend", help="run the central backend (ingest + REST API)")
    p.add_argument(
        "--settings",
        type=Path,
        help="the worker's settings file (docs/examples/backend.toml); flags win over it",
    )
    p.add_argument("--database-url", help="default sqlite:///var/backend.sqlite")
    p.add_argument("--blob-dir", type=Path, help="default var/blobs")
    p.add_argument("--broker-host", help="default 127.0.0.1")
    p.add_argument("--broker-port", type=int, help="default 1883")
    p.add_argument("--http-host", help="default 127.0.0.1")
    p.add_argument("--http-port", type=int, help="default 8080")
    p.add_argument("--ca-dir", type=Path, help="the site CA (default var/site-ca)")
    p.add_argument("--enroll-port", type=int, help="HTTPS enrollment endpoint (default 8443)")
    p.add_argument("--worker-id", help="this worker's name (backend.<name>, default 1)")
    p.add_argument(
        "--broker",
        action="append",
        dest="brokers",
        metavar="NAME=HOST:PORT",
        help="a named broker, one per region or site group (repeatable); terminals are "
        "assigned to one by `allhours provision token --broker NAME`",
    )
    p.set_defaults(func=cmd_backend)

    p = sub.add_parser("broker", help="run a private Mosquitto in the foreground")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--dir", type=Path, default=Path("var/broker"))
    p.add_argument("--ca-dir", type=Path, default=Path("var/site-ca"), help="the site CA")
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument(
        "--public-name",
        action="append",
        default=[],
        help="a host name or address terminals reach the broker by (repeatable)",
    )
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("contract", help="wire contract tools")
    csub = p.add_subparsers(dest="contract_command", required=True)
    e = csub.add_parser("export", help="write AsyncAPI, JSON Schemas and examples")
    e.add_argument("directory", type=Path, nargs="?", default=Path("docs/contract"))
    e.set_defaults(func=cmd_contract)

    from .commands import register_all

    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose or bool(os.environ.get("ALLHOURS_VERBOSE")))
    private = args.command in PRIVATE_DATA_COMMANDS
    with private_umask() if private else contextlib.nullcontext():
        return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
