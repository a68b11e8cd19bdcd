"""`allhours update`: install, switch, roll back and recover the terminal's software (as root).

Run by the systemd units in deploy/systemd/ (docs/deploy-terminal.md): `run-request` by
allhours-update.service when the kiosk drops a request, `recover` at every boot. `trust` is run
by hand once, after enrollment: the backend keys that `run-request` checks the kiosk's requests
against (terminal/update_trust.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cloud_bridge.contract.messages import utcnow
from terminal.update import HeldDirectory, Outcome, Releases, UpdateError, Updater, outcome_json
from terminal.update_health import read_small_json
from terminal.update_trust import TRUST_FILE, UpdateTrust, claimed

KIOSK_UNIT = "allhours-kiosk.service"
OUTCOME = "outcome.json"  # beside the request, for the kiosk (terminal/software_update.py)
# The kiosk restarting this often after a switch is a crash loop: fall back without waiting.
CRASH_LOOP = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "update",
        help="install, switch, roll back or recover the terminal's software",
        description=(
            "Two versions stay installed under --root (releases/, current, previous). A switch "
            "restarts the kiosk and keeps the new version only if its health report says so "
            "within --timeout; otherwise it falls back. Exit 0 on success, 1 when the change "
            "was refused or rolled back, 2 on bad use."
        ),
    )
    p.add_argument("--root", type=Path, default=Path("/opt/allhours"))
    p.add_argument("--data-dir", type=Path, default=Path("/var/lib/allhours/terminal"))
    p.add_argument("--unit", default=KIOSK_UNIT, help="the kiosk's systemd unit")
    p.add_argument("--timeout", type=float, default=120.0, help="health check deadline, s")
    p.add_argument(
        "--trust",
        type=Path,
        default=TRUST_FILE,
        help="root's file of the backend keys that a request's signed command must hold for",
    )
    ops = p.add_subparsers(dest="op", required=True)
    inst = ops.add_parser("install", help="unpack a release archive checked by its SHA-256")
    inst.add_argument("--archive", type=Path, required=True)
    inst.add_argument("--sha256", required=True)
    inst.add_argument("--version", required=True)
    sw = ops.add_parser("switch", help="run an installed version, health-gated")
    sw.add_argument("--version", required=True)
    rb = ops.add_parser("rollback", help="back to the previous version, health-gated")
    rb.add_argument("--reason", default="operator asked")
    ops.add_parser("recover", help="finish or undo a switch a crash interrupted (at boot)")
    ops.add_parser("status", help="installed versions, the links and the last outcome")
    rq = ops.add_parser(
        "run-request", help="install and switch as the backend's signed command in a request asks"
    )
    rq.add_argument("--request", type=Path, required=True)
    tr = ops.add_parser(
        "trust", help="trust the backend keys of this terminal's enrollment bundle (after enroll)"
    )
    tr.add_argument(
        "--bundle",
        type=Path,
        default=Path("/var/lib/allhours/terminal/identity/bundle.json"),
        help="the enrollment bundle `allhours enroll` wrote",
    )
    p.set_defaults(func=run)


def _systemd(unit: str) -> tuple:
    def restarts() -> int:
        out = subprocess.run(
            ["systemctl", "show", unit, "-p", "NRestarts", "--value"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return int(out) if out.isdigit() else 0

    base = {"n": 0}

    def restart() -> None:
        subprocess.run(["systemctl", "restart", unit], check=True, timeout=60)
        base["n"] = restarts()

    def alive() -> str | None:
        extra = restarts() - base["n"]
        return f"{unit} restarted {extra} times since the switch" if extra >= CRASH_LOOP else None

    return restart, alive


def _updater(args: argparse.Namespace) -> Updater:
    restart, alive = _systemd(args.unit)
    return Updater(
        Releases(args.root), args.data_dir, restart, health_timeout_s=args.timeout, alive=alive
    )


def _report(
    outcome: Outcome | None, out: HeldDirectory | None = None, asked: dict | None = None
) -> int:
    if outcome is None:
        print("nothing under way")
        return 0
    text = outcome_json(outcome)
    print(text)
    if out is not None:
        # The kiosk reports it with the request's operation id (terminal/software_update.py).
        extra = {k: asked[k] for k in ("operation_id", "archive") if asked and k in asked}
        _write_outcome(out, OUTCOME, json.dumps({**json.loads(text), **extra}))
    return 0 if outcome.ok else 1


def _write_outcome(directory: HeldDirectory, name: str, text: str) -> None:
    """`text` as `name`, atomically, in the directory the kiosk's user owns, held open.

    Whatever that user left there (`.outcome.json.tmp` as a symbolic or hard link to a file of
    root's) is never opened: the file is created new under a random name (O_EXCL, O_NOFOLLOW),
    then renamed over `name`, both relative to the directory held. The kiosk reads it and
    deletes it: it gets the directory's owner and group and mode 0644, whatever root's umask.
    """
    tmp = f".{name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644, dir_fd=directory.fd)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o644)
            owner = os.fstat(directory.fd)
            with contextlib.suppress(PermissionError):  # not root: ours, readable all the same
                os.fchown(f.fileno(), owner.st_uid, owner.st_gid)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name, src_dir_fd=directory.fd, dst_dir_fd=directory.fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=directory.fd)
        raise
    os.fsync(directory.fd)


def run(args: argparse.Namespace) -> int:
    releases = Releases(args.root)
    try:
        if args.op == "install":
            path = releases.install_archive(args.archive, args.sha256, args.version)
            print(f"installed {args.version} in {path}")
            return 0
        if args.op == "switch":
            return _report(_updater(args).update(args.version))
        if args.op == "rollback":
            return _report(_updater(args).rollback(args.reason))
        if args.op == "recover":
            return _report(_updater(args).recover())
        if args.op == "status":
            try:
                trust: dict | str = vars(UpdateTrust.load(args.trust))
            except UpdateError as exc:
                trust = str(exc)
            print(
                json.dumps(
                    {
                        "installed": releases.installed(),
                        "current": releases.current(),
                        "previous": releases.previous(),
                        "state": releases.state(),
                        "trust": trust,
                    },
                    indent=2,
                    ensure_ascii=False,
                )
            )
            return 0
        if args.op == "run-request":
            return run_request(args.request, releases, _updater(args), args.trust)
        if args.op == "trust":
            return _trust(args.bundle, args.trust)
    except UpdateError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    return 2


def _trust(bundle: Path, trust_file: Path) -> int:
    """Take the backend keys over from the terminal's bundle, showing them to be compared with
    `allhours provision signing-key show` on the backend."""
    try:
        before = UpdateTrust.load(trust_file)
    except UpdateError:
        before = None
    trust = UpdateTrust.from_bundle(bundle, before)
    trust.save(trust_file)
    print(f"{trust_file}: updates for {trust.terminal_id} must be signed by one of")
    for key in trust.backend_keys:
        print(f"  {key}")
    print("compare them with `allhours provision signing-key show` on the backend")
    return 0


def request_problem(asked: object) -> str | None:
    """What keeps `asked` from being a request the updater can act on; None if nothing.

    `archive` is a non-empty string and `command` an object (checked as a signed command
    later, with an outcome for the kiosk to report)."""
    if not isinstance(asked, dict):
        return "not a JSON object"
    if not isinstance(asked.get("archive"), str) or not asked["archive"]:
        return "archive is not a non-empty string"
    if not isinstance(asked.get("command"), dict):
        return "command is not a JSON object"
    return None


def run_request(
    request: Path,
    releases: Releases,
    updater: Updater,
    trust_file: Path,
    clock=utcnow,
) -> int:
    """The request the kiosk dropped ({"archive", "command": the backend's signed update
    command}), done by `updater` once the command's signature holds for root's own trust
    (terminal/update_trust.py); outcome.json beside it, with the operation id, for the kiosk to
    report. Version and SHA-256 come from the signed command only. The kiosk's directory is
    opened once and used by its descriptor (HeldDirectory)."""
    try:
        held = HeldDirectory(request.parent)
    except OSError as exc:  # a link put in the directory's place: ELOOP
        print(f"bad request {request}: its directory: {exc.strerror}", file=sys.stderr)
        return 2
    with held:
        return _run_request(request, held, releases, updater, trust_file, clock)


def _run_request(
    request: Path,
    held: HeldDirectory,
    releases: Releases,
    updater: Updater,
    trust_file: Path,
    clock,
) -> int:
    # Not following a link (to a root-only file) nor blocking on a FIFO, and bounded.
    asked, problem = read_small_json(Path(request.name), dir_fd=held.fd)
    if asked is None and problem is None:
        problem = "there is none"
    problem = problem or request_problem(asked)
    if problem is not None:
        # The kiosk's user writes the request; the updater runs with more rights than it.
        print(f"bad request {request}: {problem}", file=sys.stderr)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(request.name, dir_fd=held.fd)
        return 2
    assert isinstance(asked, dict)
    archive = Path(asked["archive"])
    version, operation_id = claimed(asked["command"])
    # Taken: a crash from here on is for `recover`, not a second attempt.
    os.unlink(request.name, dir_fd=held.fd)
    try:
        trust = UpdateTrust.load(trust_file)
        command, after = trust.check(asked["command"], clock())
        try:
            after.save(trust_file)  # acted on: not again, whatever follows
        except OSError as exc:
            raise UpdateError(f"cannot record the update in {trust_file}: {exc}") from exc
        version, operation_id = command.version, command.operation_id
        # Installed again from the signed archive unless it runs or is what a fall-back goes to:
        # a version left from a failed switch is tried again only so (Releases._commit_install).
        if version not in (releases.current(), releases.previous()):
            try:
                # Only a file of the kiosk's own, beside the request (terminal/update.py).
                releases.install_archive(archive, command.sha256, version, only_in=held)
            except OSError as exc:  # the disk under /opt, not the archive: an outcome all the same
                raise UpdateError(f"installing {version}: {exc}") from exc
        outcome = updater.update(version)
    except UpdateError as exc:
        outcome = Outcome(False, releases.current(), version, f"refused: {exc}")
    return _report(outcome, held, {"operation_id": operation_id, "archive": str(archive)})
