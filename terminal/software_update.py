"""The kiosk's half of a software update: fetch and check the archive, ask, report the outcome.

The kiosk runs unprivileged and sandboxed; the switch itself runs as root in
`allhours-update.service` (terminal/update.py, docs/deploy-terminal.md). For a signed
`command.update_software` the kiosk

1. acks at once: `done` ("accepted", with the version it runs) or `rejected` (an update is
   under way, the URL is not https);
2. fetches the archive on a thread (the link keeps serving meanwhile): over HTTPS, verified
   against the site CA only and showing the terminal's own certificate, at most `size_bytes`
   (a longer body is cut off and refused), hashed on the way; a wrong length or SHA-256 is
   refused and nothing is installed;
3. drops the request (`request.json`, written atomically) that starts the root updater: the
   archive's path and the command exactly as the backend signed it (topic, sequence number,
   payload, signature). Root takes nothing else from the kiosk: it checks that signature
   against the backend keys it keeps itself (terminal/update_trust.py), takes the version and
   SHA-256 from the signed payload, installs, switches, waits for the new version's health
   report and falls back if it fails, then writes `outcome.json`;
4. reports that outcome as `event.software_update` through the outbox, whichever kiosk reads it
   (the new version after a success, the old one after a fall-back): `report_outcome()` runs at
   start and every few seconds.

Every outcome, a refused archive included, carries the command's operation id, so the backend's
rollout (backend/rollouts.py) knows which of its terminals it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from cloud_bridge.commands import CommandRejected, CommandResult
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.signing import SignedDownstream
from cloud_bridge.outbox import Outbox
from provisioning.tls import ClientTls

log = logging.getLogger(__name__)

REQUEST, OUTCOME = "request.json", "outcome.json"
FETCH_TIMEOUT_S = 60.0  # between two reads of the body, not for the whole of it


def _write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ArchiveRefused(Exception):
    """The archive did not arrive as the signed command describes it."""


def fetch_archive(cmd: m.UpdateSoftware, dest: Path, tls: ClientTls | None) -> None:
    """Stream the archive to `dest`, refusing more than `size_bytes` or another SHA-256."""
    verify: object = tls.context() if tls is not None else True
    part = dest.with_name(f".{dest.name}.part")
    digest, size = hashlib.sha256(), 0
    try:
        with (
            httpx.stream(
                "GET", cmd.archive_url, verify=verify, timeout=FETCH_TIMEOUT_S
            ) as response,  # type: ignore[arg-type]
            open(part, "wb") as out,
        ):
            if response.status_code != 200:
                raise ArchiveRefused(f"archive fetch: HTTP {response.status_code}")
            for chunk in response.iter_bytes(1 << 20):
                size += len(chunk)
                if size > cmd.size_bytes:
                    raise ArchiveRefused(
                        f"archive of {cmd.version}: longer than the signed {cmd.size_bytes} bytes"
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise ArchiveRefused(f"archive fetch: {type(exc).__name__}: {exc}"[:300]) from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if size != cmd.size_bytes:
        part.unlink(missing_ok=True)
        raise ArchiveRefused(f"archive of {cmd.version}: {size} bytes, signed {cmd.size_bytes}")
    if digest.hexdigest() != cmd.sha256:
        part.unlink(missing_ok=True)
        raise ArchiveRefused(f"archive of {cmd.version}: SHA-256 does not match the signed one")
    os.replace(part, dest)


class SoftwareUpdates:
    """Handles `command.update_software` and reports the updater's outcome."""

    def __init__(
        self,
        update_dir: Path,
        outbox: Outbox,
        terminal_id: str,
        running: str,
        tls: Callable[[], ClientTls | None] = lambda: None,
    ):
        self.dir = Path(update_dir)
        self.outbox = outbox
        self.terminal_id = terminal_id
        self.running = running
        self.tls = tls
        self._lock = threading.Lock()
        self._fetching: threading.Thread | None = None

    # ---------------------------------------------------------------- the command

    def on_update(self, cmd: m.UpdateSoftware, signed: SignedDownstream) -> CommandResult:
        if cmd.version == self.running:
            return CommandResult(
                detail=f"already running {cmd.version}",
                result={"software_version": self.running},
            )
        with self._lock:
            if self._fetching is not None and self._fetching.is_alive():
                raise CommandRejected("an update is already being fetched")
            self.dir.mkdir(parents=True, exist_ok=True)
            if (self.dir / REQUEST).exists():
                raise CommandRejected("an update is already under way")
            self._fetching = threading.Thread(
                target=self._fetch, args=(cmd, signed), name="update-fetch", daemon=True
            )
            self._fetching.start()
        return CommandResult(
            detail=f"accepted: fetching {cmd.version}", result={"software_version": self.running}
        )

    def wait_fetched(self, timeout: float) -> None:
        """Tests and a clean stop: wait for a fetch under way."""
        if self._fetching is not None:
            self._fetching.join(timeout)

    def _fetch(self, cmd: m.UpdateSoftware, signed: SignedDownstream) -> None:
        archive = self.dir / f"allhours-{cmd.version}.tar.gz"
        try:
            fetch_archive(cmd, archive, self.tls())
        except ArchiveRefused as exc:
            log.error("update to %s refused: %s", cmd.version, exc)
            self._report(cmd.operation_id, cmd.version, False, f"refused: {exc}", self.running)
            return
        except Exception as exc:  # a full disk, a broken identity: said, not swallowed
            log.exception("fetching the update to %s failed", cmd.version)
            self._report(
                cmd.operation_id, cmd.version, False, f"fetch failed: {exc}"[:500], self.running
            )
            return
        _write_atomic(self.dir / REQUEST, {"archive": str(archive), "command": signed.to_json()})
        log.info("update to %s fetched and checked; asked the updater", cmd.version)

    # ---------------------------------------------------------------- the outcome

    def report_outcome(self) -> bool:
        """Send the updater's outcome if one is waiting; True if one was sent."""
        path = self.dir / OUTCOME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            log.error("unreadable update outcome %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return False
        operation = data.get("operation_id") or "update-by-hand"
        self._report(
            operation,
            str(data.get("attempted", ""))[:40],
            bool(data.get("ok")),
            str(data.get("detail", ""))[:500],
            data.get("running"),
            rolled_back=bool(data.get("rolled_back")),
        )
        # Queued durably first: a crash here sends it twice, which the backend folds.
        path.unlink(missing_ok=True)
        archive = data.get("archive")
        if archive:
            with contextlib.suppress(OSError):
                Path(archive).unlink(missing_ok=True)
        return True

    def _report(
        self,
        operation_id: str,
        version: str,
        ok: bool,
        detail: str,
        running: str | None,
        rolled_back: bool = False,
    ) -> None:
        self.outbox.put(
            m.SoftwareUpdated(
                terminal_id=self.terminal_id,
                operation_id=operation_id,
                version=version or "unknown",
                ok=ok,
                running=(running or None) and str(running)[:40],
                rolled_back=rolled_back,
                detail=detail[:500],
            )
        )
