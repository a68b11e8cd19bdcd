"""Staged rollouts of a software version or a configuration bundle, with an abort threshold.

A rollout names its stages as terminal groups in order (e.g. `pilot`, `district-dc`, `all`).
When it starts, each terminal is placed in the first stage that holds it ("all": every
registered terminal not in an earlier stage), so the plan is fixed and shown from the start.
Stage 1's terminals get the command at once; each later stage starts only when every terminal of
the stage before has an outcome:

- a configuration bundle: the terminal's ack (done: it runs the version; rejected: refused or
  rolled back by its health check, in its words; expired);
- a software version: the ack says the update was accepted (or refused), then the terminal's
  `event.software_update` says whether the new version passed its health check or was rolled
  back (terminal/software_update.py);
- no outcome within the rollout's wait (`wait_s`) counts as a failure.

The **abort threshold**: as soon as `abort_failed` terminals failed, or failures reach
`abort_fraction` of the terminals sent so far, the rollout is aborted: terminals not yet sent
are skipped, and commands no broker has taken yet are expired so that nothing re-sends them.
No further terminal gets it. An operator may pause (no new stage starts; outcomes are still
recorded), resume or abort it; every action is in `rollout_events` with who and why.

All of it is in the database; `tick()` advances every running rollout from what is stored, so a
backend restart loses nothing (the monitor thread calls it every few seconds, and the open
commands are re-sent by the command lifecycle, backend/commands.py). On PostgreSQL the rollout
row is locked while a worker advances it, so two workers never start a stage twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from . import commands, terminal_groups
from .catalog_bundles import BundleRefused, bundle_command, checked_parts, checked_version
from .commands import CommandPublisher
from .db import Database
from .models import CommandRow, utcnow
from .rollout_tables import Rollout, RolloutEvent, RolloutTarget

log = logging.getLogger(__name__)

SOFTWARE, BUNDLE = "software", "bundle"
KINDS = (SOFTWARE, BUNDLE)
RUNNING, PAUSED, ABORTED, DONE = "running", "paused", "aborted", "done"
# A terminal's way through a rollout.
WAITING, SENT, ACCEPTED, SUCCEEDED, FAILED, SKIPPED = (
    "waiting",
    "sent",
    "accepted",
    "succeeded",
    "failed",
    "skipped",
)
OPEN_TARGET = (SENT, ACCEPTED)
FINISHED_TARGET = (SUCCEEDED, FAILED, SKIPPED)
# A command's states (backend/commands.py) that end a terminal's part as a failure (refused by
# the terminal, or expired); and the one in which no broker holds it yet, which an abort expires
# (a command the broker took sits in the terminal's session and cannot be called back).
COMMAND_REFUSED = (commands.FAILED, commands.EXPIRED)
COMMAND_NOT_TAKEN = (commands.QUEUED,)
MAX_STAGES = 10
MAX_TARGETS = 20000
DEFAULT_WAIT = timedelta(hours=2)
MIN_WAIT, MAX_WAIT = timedelta(minutes=1), timedelta(days=3)


class RolloutRefused(ValueError):
    """The rollout cannot start or change as asked; the message says why."""


class NoSuchRollout(LookupError):
    pass


@dataclass(frozen=True)
class Threshold:
    """Abort when `failed` terminals failed, or failures reach `fraction` of those sent."""

    failed: int = 1
    fraction: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.failed <= MAX_TARGETS:
            raise RolloutRefused(f"abort_failed must be 1..{MAX_TARGETS}")
        if not 0 < self.fraction <= 1:
            raise RolloutRefused("abort_fraction must be above 0 and at most 1")

    def crossed(self, failed: int, sent: int) -> bool:
        return failed >= self.failed or (sent > 0 and failed / sent >= self.fraction)


def software_payload(version: str, archive_url: str, sha256: str, size_bytes: int) -> dict:
    """What an UpdateSoftware carries besides its envelope, checked with the contract's rules."""
    parsed = urlsplit(archive_url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise RolloutRefused("archive_url must be an https:// URL")
    payload = {
        "version": version,
        "archive_url": archive_url,
        "sha256": sha256.lower(),
        "size_bytes": size_bytes,
    }
    try:  # the same model the terminal decodes it with
        m.UpdateSoftware(
            terminal_id="T0000",
            operation_id="rollout-0",
            expires_at=utcnow(),
            **payload,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RolloutRefused(f"{where}: {first['msg']}") from None
    return payload


def operation_id(rollout_id: int) -> str:
    return f"rollout-{rollout_id}"


def _rollout_of(operation: str) -> int | None:
    head, _, number = operation.partition("-")
    return int(number) if head == "rollout" and number.isdigit() else None


class Rollouts:
    def __init__(
        self,
        db: Database,
        publisher: CommandPublisher,
        clock: Callable[[], datetime] = utcnow,
        backend_keys: Callable[[], tuple[str, ...]] = tuple,
    ):
        self.db = db
        self.publisher = publisher
        self.clock = clock
        # What terminals trust now; an update command carries it to their root updater.
        self.backend_keys = backend_keys

    # ---------------------------------------------------------------- starting

    def start(
        self,
        kind: str,
        stages: Sequence[str],
        by: str,
        *,
        version: str | None = None,
        software: dict[str, Any] | None = None,
        document: dict[str, Any] | None = None,
        layout: list[dict[str, Any]] | None = None,
        settings: dict[str, Any] | None = None,
        threshold: Threshold = Threshold(),
        wait: timedelta = DEFAULT_WAIT,
        note: str = "",
    ) -> int:
        """Start a rollout; stage 1 is sent at once. Returns its id.

        `kind="software"`: `software` is `software_payload(...)`. `kind="bundle"`: the parts of
        a configuration bundle as `ConfigBundles.push` takes them (a catalog `document`, whose
        version is the bundle's, and/or `layout` and `settings` with their own `version`),
        checked the same way.
        """
        if kind not in KINDS:
            raise RolloutRefused(f"kind must be one of {', '.join(KINDS)}")
        if kind == SOFTWARE:
            if software is None:
                raise RolloutRefused("a software rollout needs version, archive_url, sha256, size")
            payload: dict[str, Any] = dict(software)
            version = payload["version"]
        else:
            try:
                if document is not None:
                    version = checked_version(document)
                elif layout is None and settings is None:
                    raise RolloutRefused("a bundle rollout carries a catalog, a layout or settings")
                elif version is None or version == "builtin":
                    raise RolloutRefused("a bundle without a catalog needs its own version")
                checked_parts(layout, settings)
            except BundleRefused as exc:
                raise RolloutRefused(str(exc)) from None
            payload = {"catalog": document, "layout": layout, "settings": settings}
        names = list(stages)
        if not names or len(names) > MAX_STAGES:
            raise RolloutRefused(f"a rollout has 1 to {MAX_STAGES} stages")
        if len(set(names)) != len(names):
            raise RolloutRefused("a group is named twice in the stages")
        if not MIN_WAIT <= wait <= MAX_WAIT:
            raise RolloutRefused("wait must be between 1 minute and 3 days")
        with self.db.transaction() as session:
            plan: list[list[str]] = []
            placed: set[str] = set()
            for name in names:
                try:
                    group = terminal_groups.members(session, name)
                except terminal_groups.NoSuchGroup:
                    raise RolloutRefused(f"no group {name}") from None
                stage = [t for t in group if t not in placed]
                placed.update(stage)
                plan.append(stage)
            if not placed:
                raise RolloutRefused("the stages hold no terminal")
            if len(placed) > MAX_TARGETS:
                raise RolloutRefused(f"at most {MAX_TARGETS} terminals per rollout")
            rollout = Rollout(
                kind=kind,
                version=version,
                payload=payload,
                stages={"groups": names},
                stage=0,
                state=RUNNING,
                abort_failed=threshold.failed,
                abort_fraction=threshold.fraction,
                wait_s=int(wait.total_seconds()),
                created_by=by,
                created_at=self.clock(),
                updated_at=self.clock(),
                note=note[:500],
            )
            session.add(rollout)
            session.flush()
            for index, stage in enumerate(plan):
                for terminal_id in stage:
                    session.add(
                        RolloutTarget(
                            rollout_id=rollout.id,
                            terminal_id=terminal_id,
                            stage=index,
                            state=WAITING,
                        )
                    )
            session.add(
                RolloutEvent(
                    rollout_id=rollout.id,
                    action="started",
                    actor=by,
                    detail=f"{kind} {version} to {' -> '.join(names)}"
                    f" ({', '.join(str(len(s)) for s in plan)} terminals); {note}"[:2000],
                    at=self.clock(),
                )
            )
            session.flush()
            rollout_id = rollout.id
            out = self._advance(session, rollout)
        self._publish(out)
        log.info("%s started rollout %d of %s %s", by, rollout_id, kind, version)
        return rollout_id

    # ---------------------------------------------------------------- operators' actions

    def pause(self, rollout_id: int, by: str, reason: str) -> None:
        self._act(rollout_id, by, "paused", reason, {RUNNING}, PAUSED)

    def resume(self, rollout_id: int, by: str, reason: str = "") -> None:
        out = self._act(rollout_id, by, "resumed", reason, {PAUSED}, RUNNING)
        self._publish(out)

    def abort(self, rollout_id: int, by: str, reason: str) -> None:
        self._act(rollout_id, by, "aborted", reason, {RUNNING, PAUSED}, ABORTED)

    def _act(
        self, rollout_id: int, by: str, action: str, reason: str, allowed: set[str], to: str
    ) -> list[m.Message]:
        with self.db.transaction() as session:
            rollout = self._locked(session, rollout_id)
            if rollout is None:
                raise NoSuchRollout(rollout_id)
            if rollout.state not in allowed:
                raise RolloutRefused(f"rollout {rollout_id} is {rollout.state}; cannot be {action}")
            session.add(
                RolloutEvent(
                    rollout_id=rollout_id,
                    action=action,
                    actor=by,
                    detail=reason[:2000],
                    at=self.clock(),
                )
            )
            if to == ABORTED:
                self._stop(session, rollout, f"aborted by {by}: {reason}")
                return []
            rollout.state, rollout.updated_at = to, self.clock()
            return self._advance(session, rollout) if to == RUNNING else []

    # ---------------------------------------------------------------- following

    def tick(self) -> int:
        """Advance every running or paused rollout from what is stored; returns commands sent."""
        with self.db.transaction() as session:
            ids = list(
                session.scalars(select(Rollout.id).where(Rollout.state.in_((RUNNING, PAUSED))))
            )
        sent = 0
        for rollout_id in ids:
            with self.db.transaction() as session:
                rollout = self._locked(session, rollout_id)
                if rollout is None or rollout.state not in (RUNNING, PAUSED):
                    continue
                out = self._advance(session, rollout)
            self._publish(out)
            sent += len(out)
        return sent

    def _locked(self, session: Session, rollout_id: int) -> Rollout | None:
        return session.scalars(
            select(Rollout).where(Rollout.id == rollout_id).with_for_update()
        ).first()

    def _advance(self, session: Session, rollout: Rollout) -> list[m.Message]:
        """Judge the open targets, apply the threshold, start the next stage when due.

        Reads only the open targets (with their commands in one query per 500) and the current
        stage's, and counts the rest in SQL: a tick of a rollout to thousands of terminals
        costs what is under way, not the whole plan.
        """
        now = self.clock()
        mine = select(RolloutTarget).where(RolloutTarget.rollout_id == rollout.id)
        open_targets = list(session.scalars(mine.where(RolloutTarget.state.in_(OPEN_TARGET))))
        rows: dict[str, CommandRow] = {}
        ids = [t.command_id for t in open_targets if t.command_id]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows.update(
                (r.command_id, r)
                for r in session.scalars(select(CommandRow).where(CommandRow.command_id.in_(chunk)))
            )
        for t in open_targets:
            self._judge(rollout, t, rows.get(t.command_id or ""), now)
        session.flush()
        counts: dict[str, int] = dict(
            session.execute(  # type: ignore[arg-type]
                select(RolloutTarget.state, func.count())
                .where(RolloutTarget.rollout_id == rollout.id)
                .group_by(RolloutTarget.state)
            ).all()
        )
        sent = sum(n for state, n in counts.items() if state not in (WAITING, SKIPPED))
        failed = counts.get(FAILED, 0)
        threshold = Threshold(rollout.abort_failed, rollout.abort_fraction)
        if threshold.crossed(failed, sent):
            first = session.scalars(
                mine.where(RolloutTarget.state == FAILED)
                .order_by(RolloutTarget.finished_at, RolloutTarget.terminal_id)
                .limit(5)
            )
            names = ", ".join(f"{t.terminal_id} ({t.detail})" for t in first)
            self._stop(
                session,
                rollout,
                f"abort threshold reached: {failed} of {sent} sent failed: {names}",
            )
            session.add(
                RolloutEvent(
                    rollout_id=rollout.id,
                    action="aborted",
                    actor="backend",
                    detail=rollout.detail[:2000],
                    at=now,
                )
            )
            return []
        if rollout.state != RUNNING:
            return []
        out: list[m.Message] = []
        stages = rollout.stages["groups"]
        while rollout.stage < len(stages):
            current = list(session.scalars(mine.where(RolloutTarget.stage == rollout.stage)))
            waiting = [t for t in current if t.state == WAITING]
            if waiting:
                out.extend(self._send(session, rollout, waiting, now))
                session.add(
                    RolloutEvent(
                        rollout_id=rollout.id,
                        action="stage_started",
                        actor="backend",
                        detail=f"stage {rollout.stage + 1} ({stages[rollout.stage]}):"
                        f" {len(waiting)} terminals",
                        at=now,
                    )
                )
                break
            if any(t.state in OPEN_TARGET for t in current):
                break
            rollout.stage += 1
        if rollout.stage >= len(stages):
            rollout.stage = len(stages) - 1
            rollout.state = DONE
            ok, total = counts.get(SUCCEEDED, 0), sum(counts.values())
            rollout.detail = f"done: {ok} of {total} terminals run {rollout.version}"
            session.add(
                RolloutEvent(
                    rollout_id=rollout.id,
                    action="done",
                    actor="backend",
                    detail=rollout.detail,
                    at=now,
                )
            )
        rollout.updated_at = now
        return out

    def _send(
        self, session: Session, rollout: Rollout, targets: list[RolloutTarget], now: datetime
    ) -> list[m.Message]:
        expires_at = now + timedelta(seconds=rollout.wait_s)
        out: list[m.Message] = []
        for t in targets:
            command = self._command(rollout, t.terminal_id, expires_at)
            row = commands.record(session, command)
            row.issued_by, row.note = rollout.created_by, f"rollout {rollout.id}"
            t.state, t.command_id, t.sent_at = SENT, command.message_id, now
            out.append(command)
        return out

    def _command(self, rollout: Rollout, terminal_id: str, expires_at: datetime) -> m.Command:
        if rollout.kind == SOFTWARE:
            return m.UpdateSoftware(
                terminal_id=terminal_id,
                operation_id=operation_id(rollout.id),
                expires_at=expires_at,
                backend_keys=list(self.backend_keys()),
                **rollout.payload,
            )
        p = rollout.payload
        return bundle_command(
            terminal_id,
            p.get("catalog"),
            rollout.version,
            expires_at,
            layout=p.get("layout"),
            settings=p.get("settings"),
        )

    def _judge(
        self, rollout: Rollout, t: RolloutTarget, row: CommandRow | None, now: datetime
    ) -> None:
        if row is not None and row.status in COMMAND_REFUSED:
            self._finish(t, FAILED, row.detail or row.status, now)
        elif row is not None and row.status == commands.DONE:
            result = row.result or {}
            if rollout.kind == BUNDLE:
                self._finish(t, SUCCEEDED, row.detail, now, result.get("config_version"))
            elif result.get("software_version") == rollout.version:
                self._finish(t, SUCCEEDED, row.detail, now, rollout.version)  # ran it already
            elif t.state == SENT:
                t.state, t.detail = ACCEPTED, row.detail
        if (
            t.state in OPEN_TARGET
            and t.sent_at
            and now >= t.sent_at + timedelta(seconds=rollout.wait_s)
        ):
            self._finish(t, FAILED, f"no outcome within {rollout.wait_s} s", now)

    @staticmethod
    def _finish(
        t: RolloutTarget, state: str, detail: str, now: datetime, running: str | None = None
    ) -> None:
        t.state, t.detail, t.finished_at = state, (detail or "")[:500], now
        if running:
            t.running = running

    def _stop(self, session: Session, rollout: Rollout, why: str) -> None:
        """Abort: skip the terminals not sent yet, expire the commands no broker took yet."""
        rollout.state, rollout.detail, rollout.updated_at = ABORTED, why[:2000], self.clock()
        for t in session.scalars(
            select(RolloutTarget).where(RolloutTarget.rollout_id == rollout.id)
        ):
            if t.state == WAITING:
                t.state, t.detail = SKIPPED, "rollout aborted before this stage"
            elif t.state == SENT and t.command_id:
                row = session.get(CommandRow, t.command_id)
                if row is not None and row.status in COMMAND_NOT_TAKEN:
                    row.status, row.detail = commands.EXPIRED, f"rollout {rollout.id} aborted"
                    row.finished_at = self.clock()
                    self._finish(t, SKIPPED, "aborted before the terminal took it", self.clock())
        log.warning(
            "rollout %d of %s %s aborted: %s", rollout.id, rollout.kind, rollout.version, why
        )

    def _publish(self, out: list[m.Message]) -> None:
        for command in out:
            try:
                self.publisher.publish(command)
            except Exception:  # the row stays queued; the command lifecycle publishes it again
                log.exception("publishing rollout command %s failed", command.message_id)


# ---------------------------------------------------------------- the terminal's outcome


def record_outcome(
    session: Session, terminal_id: str, msg: m.SoftwareUpdated, now: datetime
) -> bool:
    """Note a terminal's `event.software_update` on its rollout target; False when none."""
    rollout_id = _rollout_of(msg.operation_id)
    if rollout_id is None:
        return False
    target = session.get(RolloutTarget, (rollout_id, terminal_id))
    if target is None:
        return False
    if target.state in (SUCCEEDED, FAILED):
        return True
    rollout = session.get(Rollout, rollout_id)
    if rollout is None or msg.version != rollout.version:
        return False
    target.state = SUCCEEDED if msg.ok else FAILED
    target.detail, target.running, target.finished_at = msg.detail[:500], msg.running, now
    return True


# ---------------------------------------------------------------- views


def view(session: Session, rollout: Rollout, with_targets: bool = False) -> dict[str, Any]:
    targets = list(
        session.scalars(
            select(RolloutTarget)
            .where(RolloutTarget.rollout_id == rollout.id)
            .order_by(RolloutTarget.stage, RolloutTarget.terminal_id)
        )
    )
    stages = []
    for index, name in enumerate(rollout.stages["groups"]):
        mine = [t for t in targets if t.stage == index]
        counts: dict[str, int] = {}
        for t in mine:
            counts[t.state] = counts.get(t.state, 0) + 1
        stages.append({"group": name, "terminals": len(mine), "states": counts})
    out: dict[str, Any] = {
        "id": rollout.id,
        "kind": rollout.kind,
        "version": rollout.version,
        "state": rollout.state,
        "stage": rollout.stage + 1,
        "stages": stages,
        "abort_failed": rollout.abort_failed,
        "abort_fraction": rollout.abort_fraction,
        "wait_s": rollout.wait_s,
        "detail": rollout.detail,
        "created_by": rollout.created_by,
        "created_at": rollout.created_at.isoformat(),
        "updated_at": rollout.updated_at.isoformat(),
        "note": rollout.note,
    }
    if rollout.kind == SOFTWARE:
        out["archive_url"] = rollout.payload.get("archive_url")
        out["sha256"] = rollout.payload.get("sha256")
    if with_targets:
        out["targets"] = [
            {
                "terminal_id": t.terminal_id,
                "stage": t.stage + 1,
                "state": t.state,
                "detail": t.detail,
                "running": t.running,
                "command_id": t.command_id,
                "sent_at": t.sent_at.isoformat() if t.sent_at else None,
                "finished_at": t.finished_at.isoformat() if t.finished_at else None,
            }
            for t in targets
        ]
        out["events"] = [
            {"action": e.action, "actor": e.actor, "detail": e.detail, "at": e.at.isoformat()}
            for e in session.scalars(
                select(RolloutEvent)
                .where(RolloutEvent.rollout_id == rollout.id)
                .order_by(RolloutEvent.id)
            )
        ]
    return out


def listing(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(select(Rollout).order_by(Rollout.id.desc()).limit(limit))
    return [view(session, r) for r in rows]


def detail(session: Session, rollout_id: int) -> dict[str, Any]:
    rollout = session.get(Rollout, rollout_id)
    if rollout is None:
        raise NoSuchRollout(rollout_id)
    return view(session, rollout, with_targets=True)


class RolloutMonitor:
    """Calls `tick()` every `period_s` on a daemon thread (each backend worker runs one)."""

    def __init__(self, rollouts: Rollouts, period_s: float = 2.0):
        self.rollouts = rollouts
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RolloutMonitor:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rollouts", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.rollouts.tick()
            except Exception:  # a database hiccup must not end the thread
                log.exception("advancing the rollouts failed")
