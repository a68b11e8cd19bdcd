"""One running terminal: store, outbox, locker bank, command handlers and the MQTT link.

It is given its devices; `allhours.wiring` decides whether they are real or emulated.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cloud_bridge.commands import (
    CommandDispatcher,
    CommandRejected,
    CommandResult,
    HandledCommands,
)
from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code
from cloud_bridge.contract.catalog import ServiceItem
from cloud_bridge.link import LinkSettings, TerminalLink
from cloud_bridge.local_db import LocalDatabase
from cloud_bridge.outbox import Outbox
from cloud_bridge.request_reply import RequestReply
from devices.camera.port import FrameSource
from devices.identity.port import IdentityReader
from devices.identity.remote_verify.port import RemoteIdentityVerifier
from devices.lock.port import LockPort
from devices.printer.port import ReceiptPrinter
from devices.storage.port import RemovableMedia
from face.decision import FaceVerifier
from locker.bank import AttemptPolicy, LockerAlarm, LockerBank, Opened
from locker.boards import BoardSet
from locker.compartment import State as CompartmentState
from locker.config import SupervisionSettings
from locker.errors import CodeCollision, LayoutError, LockerError
from locker.journal import LockerJournal
from locker.layout import CompartmentSpec, Size
from privacy.private_files import private_data_dir
from terminal import health
from terminal.command_limits import ArmingBudget, CommandLimits, HourlyBudget
from terminal.config_bundle import ConfigBundles, ConfigStore, Configuration
from terminal.flows.pickup import HolderUnknown, PickupFlow, holder_for_load
from terminal.flows.session import TerminalParts
from terminal.flows.staff import StaffMember, StaffServiceFlow, StaffSignInLookup
from terminal.flows.submission import SubmissionFlow
from terminal.flows.supplement import SupplementFlow
from terminal.materials.on_file import OnFileLookup
from terminal.owing import OwingLookup
from terminal.progress import ProgressLookup
from terminal.rating import Ratings
from terminal.service_state import Hold, ServiceHolds, TerminalOutOfService
from terminal.software_update import SoftwareUpdates
from terminal.store import TerminalStore
from terminal.update_health import HealthReporter, running_version

log = logging.getLogger(__name__)
SOFTWARE_VERSION = running_version()

_ALARM_KINDS = {
    "wrong_code_limit": (m.AlarmKind.WRONG_CODE_LIMIT, m.Severity.WARNING),
    "lock_fault": (m.AlarmKind.LOCK_FAULT, m.Severity.CRITICAL),
    "opening_unconfirmed": (m.AlarmKind.OPENING_UNCONFIRMED, m.Severity.CRITICAL),
    "deposit_abandoned": (m.AlarmKind.DEPOSIT_ABANDONED, m.Severity.CRITICAL),
    "door_forced": (m.AlarmKind.DOOR_FORCED, m.Severity.CRITICAL),
    "door_left_open": (m.AlarmKind.DOOR_LEFT_OPEN, m.Severity.WARNING),
    "device_fault": (m.AlarmKind.DEVICE_FAULT, m.Severity.CRITICAL),
}


@dataclass
class TerminalDevices:
    """The physical parts a terminal drives."""

    lock: LockPort | BoardSet  # one board as "main", or every configured board
    identity_reader: IdentityReader
    face_verifier: FaceVerifier
    face_camera: FrameSource
    document_camera: Callable[[str, int], FrameSource]
    # The document camera's diagnostics between sessions (terminal.health); None: not reported.
    document_camera_diagnostics: Callable[[], dict[str, object]] | None = None
    # True: the face step runs the live check (face.check.FaceCheck) on face_camera frames;
    # False: one frame through face_verifier (flow tests, scripted demos).
    live_face_check: bool = False
    face_rng: random.Random | None = None
    # For cards read without a photo: the live face is matched by a remote service.
    remote_verifier: RemoteIdentityVerifier | None = None
    removable_media: RemovableMedia | None = None  # the USB port for citizens' sticks
    printer: ReceiptPrinter | None = None  # the receipt printer (USB, serial or network)


class TerminalNode:
    """Everything one terminal runs, minus the screens."""

    def __init__(
        self,
        terminal_id: str,
        data_dir: Path,
        devices: TerminalDevices,
        layout: list[CompartmentSpec],
        *,
        pickup_code_key: bytes,
        link: LinkSettings,
        catalog: tuple[ServiceItem, ...] | None = None,
        clock: Callable[[], datetime] = m.utcnow,
        applicant_key: bytes | None = None,
        request_timeout_s: float = 5.0,
        supervision: SupervisionSettings = SupervisionSettings(),  # noqa: B008 - frozen
        keypad: AttemptPolicy = AttemptPolicy(),  # noqa: B008 - frozen; ADR 0011's limits
        command_limits: CommandLimits = CommandLimits(),  # noqa: B008 - frozen; ADR 0007
        update_dir: Path | None = None,
    ):
        self.terminal_id = terminal_id
        self.data_dir = Path(data_dir)
        self.devices = devices
        self.clock = clock
        self._alarm_seq = 0
        self.arming = ArmingBudget(command_limits)
        self.service_changes = HourlyBudget(command_limits.service_changes_per_hour)
        self._last_security_alarm: datetime | None = None
        self._alarm_lock = threading.Lock()  # door supervision raises alarms from its thread
        # The kiosk user's alone (docs/deploy-terminal.md: 0700): its databases, scans, keys.
        # One an earlier release made 0755 is tightened here, and the log says so.
        private_data_dir(self.data_dir)
        # One database for everything the terminal keeps; the repositories below share it.
        self.db = LocalDatabase(self.data_dir / "terminal.sqlite")
        self.outbox = Outbox(self.db, self.data_dir / "blobs", terminal_id)
        self.store = TerminalStore(self.db, terminal_id)
        self.journal = LockerJournal(self.data_dir / "locker.sqlite")

        def bank(specs: list[CompartmentSpec], lock: LockPort | BoardSet) -> LockerBank:
            return LockerBank(
                specs,
                self.journal,
                lock,
                code_digest=lambda code: pickup_code.digest(pickup_code_key, terminal_id, code),
                tail_digest=lambda load_id, tail: pickup_code.tail_digest(
                    pickup_code_key, terminal_id, load_id, tail
                ),
                policy=keypad,
                clock=lambda: self.clock().timestamp(),
                on_alarm=self._raise_alarm,
                supervision=supervision,
            )

        # The configuration in use (docs/fleet-operations.md): a bundle's catalog, locker
        # layout and remote settings, or the terminal's own; it survives a restart.
        self.config = ConfigStore(self.data_dir)
        self.base_layout = list(layout)
        active = self.config.load_active()
        self._bank = bank
        try:
            self.locker = bank(list(active.layout or layout), devices.lock)
        except LayoutError as exc:  # the boards changed under a bundle's layout
            log.error("configuration %s: layout unusable (%s); devices file", active.version, exc)
            active = replace(active, layout=None)
            self.locker = bank(self.base_layout, devices.lock)
        self.remote_settings = active.settings
        # Called with the remote settings when a bundle changes them (the kiosk's idle watch).
        self.settings_listeners: list[Callable[[dict[str, dict[str, object]]], None]] = []
        self.dispatcher = CommandDispatcher(
            self.outbox, HandledCommands(self.db), terminal_id, clock
        )
        self.dispatcher.register(m.LoadResult, self._on_load_result)
        self.dispatcher.register(m.SetPickupCode, self._on_set_pickup_code)
        self.dispatcher.register(m.WithdrawResult, self._on_withdraw_result)
        # Configuration bundles from the backend; the active one survives a restart.
        self.bundles = ConfigBundles(
            self.config,
            self._install_configuration,
            {"catalog": lambda c: self._fits_locker(c.catalog.items)},
            boards=self._board_channels,
            orphans=self._orphaned_by,
        )
        self.dispatcher.register(m.ApplyConfigBundle, self.bundles.on_apply)
        self.dispatcher.register(m.RollbackConfigBundle, self.bundles.on_rollback)
        # Operators' commands (docs/fleet-operations.md).
        self.dispatcher.register(m.OpenCompartment, self._on_open_compartment)
        self.dispatcher.register(m.RestartKiosk, self._on_restart_kiosk)
        self.dispatcher.register(m.ResyncState, self._on_resync_state)
        self.dispatcher.register(m.FetchDiagnostics, self._on_fetch_diagnostics)
        # Software updates: the kiosk fetches and checks the archive and asks; the root-run
        # updater switches and falls back (terminal/software_update.py, ADR 0020).
        self.updates = SoftwareUpdates(
            update_dir or self.data_dir.parent / "update",
            self.outbox,
            terminal_id,
            SOFTWARE_VERSION,
            tls=lambda: link.tls,
        )
        self.dispatcher.register_signed(m.UpdateSoftware, self.updates.on_update)
        self._outcomes_stop = threading.Event()
        # Out of service and back (terminal.service_state): kept on disk, the locker told.
        self.service = ServiceHolds(self.db)
        self._hold_compartments()
        self.dispatcher.register(m.OutOfService, self.apply_out_of_service)
        self.dispatcher.register(m.BackInService, self.apply_back_in_service)
        # A restart is asked of the process manager: SIGTERM ends the kiosk cleanly and
        # systemd (Restart=always) starts it again. Tests put their own here.
        self.restart: Callable[[], None] = lambda: os.kill(os.getpid(), signal.SIGTERM)
        self.restart_delay_s = 2.0
        self.link = TerminalLink(
            terminal_id,
            self.outbox,
            self.dispatcher,
            # A bundle's link settings (telemetry, heartbeat) take effect from the next start.
            replace(link, **active.settings.get("link", {})),
            software_version=SOFTWARE_VERSION,
            telemetry=self.telemetry,
            on_response=lambda message: self.replies.deliver(message),
            on_security=self._security_alarm,
        )
        # One correlation for every kind of request: the link hands it each response.
        self.replies = RequestReply(self.link)
        # Reuse of materials on file needs the fleet's applicant key (ADR 0003); without it
        # the terminal asks nothing and citizens scan everything.
        self.on_file = OnFileLookup(
            terminal_id,
            self.link,
            applicant_key,
            clock=clock,
            timeout_s=request_timeout_s,
            replies=self.replies,
        )
        self.progress = ProgressLookup(
            terminal_id,
            self.replies,
            clock=clock,
            timeout_s=request_timeout_s,
        )
        # 补交材料 by ID card: the applications of the citizen at the reader that owe materials.
        self.owing = OwingLookup(
            terminal_id, self.replies, clock=clock, timeout_s=request_timeout_s
        )
        self.ratings = Ratings(self.db, self.outbox, terminal_id, clock)
        # Staff sign in with a one-time code from the console; the backend says who they are.
        self.staff_sign_in = StaffSignInLookup(
            terminal_id, self.replies, clock=clock, timeout_s=request_timeout_s
        )
        self.parts = TerminalParts(
            terminal_id=terminal_id,
            db=self.db,
            outbox=self.outbox,
            store=self.store,
            locker=self.locker,
            identity_reader=devices.identity_reader,
            face_verifier=devices.face_verifier,
            face_camera=devices.face_camera,
            document_camera=devices.document_camera,
            catalog=active.catalog.items if catalog is None else catalog,
            catalog_version=active.catalog.version if catalog is None else None,
            clock=clock,
            online=self.link.connected.is_set,
            on_file=self.on_file,
            live_face_check=devices.live_face_check,
            face_rng=devices.face_rng,
            remote_verifier=devices.remote_verifier,
            removable_media=devices.removable_media,
            applicant_key=applicant_key,
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> TerminalNode:
        self.report_unreported_pickups()
        self.locker.doors.start()
        self.link.start()
        # The health report an update or a configuration change is judged by.
        self.health = HealthReporter(
            self.data_dir,
            SOFTWARE_VERSION,
            self.health_checks(),
            config_version=self.config.active_version,
        )
        self.health.start()
        # The updater's outcome is reported by whichever version runs after it.
        self._outcomes_stop.clear()
        threading.Thread(target=self._report_updates, name="update-outcome", daemon=True).start()
        return self

    def _report_updates(self) -> None:
        while True:
            try:
                self.updates.report_outcome()
            except Exception:  # a full disk must not end the thread
                log.exception("reporting the software update's outcome failed")
            if self._outcomes_stop.wait(2.0):
                return

    def _install_configuration(self, configuration: Configuration) -> None:
        """Catalog, layout and settings of a bundle, swapped together.

        The flows and screens read the catalog and the locker from parts on each use. A new
        layout builds a new bank on the same journal and boards (every compartment keeps what
        it holds: the bundle was refused if one holding something would be dropped).
        """
        layout = list(configuration.layout or self.base_layout)
        if layout != [c.spec for c in self.locker.compartments()]:
            old = self.locker
            with old._mutex:  # no flow is inside the old bank while it is swapped
                new = self._bank(layout, old.boards)
                old.doors.stop()
                self.locker = self.parts.locker = new
                self._hold_compartments()  # operators' holds apply to the new bank too
            if getattr(self, "health", None) is not None:  # started: supervise the doors
                new.doors.start()
        self.parts.catalog = configuration.catalog.items
        self.parts.catalog_version = configuration.catalog.version
        self.remote_settings = configuration.settings
        for listener in self.settings_listeners:
            listener(configuration.settings)

    def _board_channels(self) -> dict[str, int | None]:
        """This terminal's lock boards and how many channels each has (None: not told)."""
        boards = self.locker.boards
        return {b: getattr(boards.board(b), "channels", None) for b in boards.ids}

    def _orphaned_by(self, layout: tuple[CompartmentSpec, ...] | None) -> str | None:
        """What a layout would orphan: a compartment holding something it drops or shrinks."""
        kept = {c.id: c for c in (layout or self.base_layout)}
        for slot in self.locker.compartments():
            if slot.state in (CompartmentState.EMPTY, CompartmentState.OUT_OF_SERVICE):
                continue
            holds = slot.application_no or "no application"
            what = f"{slot.spec.id} is {slot.state.value} ({holds})"
            spec = kept.get(slot.spec.id)
            if spec is None:
                return f"{what} and the new layout has no {slot.spec.id}"
            if spec.size < slot.spec.size or (spec.board, spec.channel) != (
                slot.spec.board,
                slot.spec.channel,
            ):
                return f"{what} and the new layout moves or shrinks it"
        return None

    def _fits_locker(self, items: tuple[ServiceItem, ...]) -> str | None:
        """Every item's result and originals fit a compartment this locker has."""
        largest = max((c.spec.size for c in self.locker.compartments()), default=None)
        for item in items:
            for need in filter(None, (item.result_size, item.originals_size)):
                if largest is None or Size(need) > largest:
                    return f"{item.code} needs a size {need} compartment, the largest is {largest}"
        return None

    def health_checks(self) -> dict[str, Callable[[], str | None]]:
        started = self.clock()

        def link() -> str | None:
            waited = (self.clock() - started).total_seconds()
            if self.link.connected.is_set() or waited < 90:
                return None
            return f"not connected to the broker for {waited:.0f} s"

        def locker() -> str | None:
            down = [
                b
                for b, d in self.locker.boards.diagnostics().items()
                if not d.get("connected", True)
            ]
            return f"lock board(s) not answering: {', '.join(down)}" if down else None

        return {
            "catalog": lambda: self._fits_locker(self.parts.catalog),
            "database": lambda: (self.outbox.backlog(), None)[1],
            "locker": locker,
            "link": link,
        }

    def report_unreported_pickups(self) -> int:
        """Queue the picked-up event of any pickup a crash cut off before it was reported.

        The locker journals "opening" (with the load) before the pulse and "picked_up" after
        it; the event is written just after that. A crash between the two leaves a journal
        pickup with no report, which this finds at start-up.
        """
        openings: dict[str, dict[str, object]] = {}
        queued = 0
        for record in self.journal.records():
            if record.event == "opening" and record.compartment_id:
                openings[record.compartment_id] = record.body
            elif record.event == "picked_up" and record.compartment_id in openings:
                body = openings.pop(record.compartment_id)
                load_id, app_no = body.get("load_id"), body.get("application_no")
                if isinstance(load_id, str) and isinstance(app_no, str):
                    opened = Opened(record.compartment_id, app_no, load_id)
                    at = datetime.fromtimestamp(record.at, UTC)
                    queued += PickupFlow(self.parts).report(opened, at=at)
        if queued:
            log.warning("reported %d pickup(s) that a restart had cut off", queued)
        return queued

    def stop(self) -> None:
        self._outcomes_stop.set()
        if getattr(self, "health", None) is not None:
            self.health.stop()
        self.locker.doors.stop()
        self.link.stop()
        self.journal.close()
        self.db.close()

    # ---------------------------------------------------------------- flows

    def submission(self) -> SubmissionFlow:
        self._refuse_new_business()
        return SubmissionFlow(self.parts)

    def pickup(self) -> PickupFlow:
        if not self.pickups_open():
            raise TerminalOutOfService("pickups are closed at this terminal for now")
        return PickupFlow(self.parts)

    def supplement(self, *, by_card: bool = False) -> SupplementFlow:
        """补交材料: owed materials for an application found by number and phone tail, or
        (`by_card`) among the applications of the citizen whose card and face were checked."""
        self._refuse_new_business()
        if by_card:
            return SupplementFlow.by_card(self.parts, self.progress, self.owing)
        return SupplementFlow(self.parts, self.progress, self.owing)

    def staff(self, member: StaffMember) -> StaffServiceFlow:
        """Service mode for a staff member the backend signed in (`staff_sign_in`)."""
        return StaffServiceFlow(self.parts, member)

    # ---------------------------------------------------------------- out of service

    def out_of_service(self) -> Hold | None:
        """The whole terminal's out-of-service, or None when it serves citizens."""
        return self.service.terminal()

    def locker_safe(self) -> bool:
        """Every lock board answers: a door opened for a pickup is watched and can close."""
        return all(
            d.get("connected", True) is not False for d in self.locker.boards.diagnostics().values()
        )

    def pickups_open(self) -> bool:
        """Results can be collected: the terminal is in service, or only closed and its
        locker is safe."""
        hold = self.service.terminal()
        return hold is None or (not hold.locked and self.locker_safe())

    def _hold_compartments(self) -> None:
        """Tell the locker (at start, or a new bank after a layout change) what is held."""
        for cid, hold in self.service.compartments().items():
            try:
                self.locker.hold(cid, locked=hold.locked)
            except LockerError:  # the layout lost it since: nothing to hold
                log.warning("compartment %s is held but no longer in the layout", cid)

    def _refuse_new_business(self) -> None:
        if self.service.terminal() is not None:
            raise TerminalOutOfService("this terminal takes no new submissions for now")

    def _service_change_allowed(self, cmd: m.OutOfService | m.BackInService) -> None:
        if not self.service_changes.take(self.clock()):
            self._security_alarm(
                f"more than {self.service_changes.per_hour} service changes in an hour:"
                f" {m.type_name(type(cmd))} {cmd.message_id} refused"
            )
            raise CommandRejected("rate_limited: too many service changes this hour")

    def apply_out_of_service(self, cmd: m.OutOfService) -> CommandResult:
        self._service_change_allowed(cmd)
        hold = Hold(cmd.hold, cmd.reason, cmd.note, self.clock(), cmd.message_id)
        if cmd.compartment_id is not None:
            try:
                self.locker.hold(cmd.compartment_id, locked=hold.locked)
            except LockerError as exc:
                raise CommandRejected(str(exc)) from exc
        self.service.put(cmd.compartment_id, hold)
        where = cmd.compartment_id or "terminal"
        log.warning("%s out of service (%s): %s %s", where, cmd.hold, cmd.reason, cmd.note)
        self.link.publish_telemetry()
        return CommandResult(result={"scope": where, "hold": cmd.hold.value})

    def apply_back_in_service(self, cmd: m.BackInService) -> CommandResult:
        self._service_change_allowed(cmd)
        if cmd.compartment_id is not None:
            try:
                self.locker.unhold(cmd.compartment_id)
            except LockerError as exc:
                raise CommandRejected(str(exc)) from exc
        was = self.service.remove(cmd.compartment_id)
        where = cmd.compartment_id or "terminal"
        log.warning("%s back in service: %s %s", where, cmd.reason, cmd.note)
        self.link.publish_telemetry()
        return CommandResult(
            detail="" if was else "was in service already", result={"scope": where}
        )

    # ---------------------------------------------------------------- commands

    def _arming_allowed(self, cmd: m.Command) -> None:
        if not self.arming.take(self.clock()):
            self._security_alarm(
                f"more than {self.arming.limits.arming_per_hour} arming commands in an hour:"
                f" {m.type_name(type(cmd))} {cmd.message_id} refused"
            )
            raise CommandRejected("rate_limited: too many arming commands this hour")

    def _on_load_result(self, cmd: m.LoadResult) -> CommandResult:
        if self.service.terminal() is not None:  # nothing new goes in (terminal.service_state)
            raise CommandRejected("out_of_service: this terminal takes no new results for now")
        self._arming_allowed(cmd)
        try:
            holder = holder_for_load(
                self.parts.catalog,
                cmd.item_code,
                cmd.holder_ref,
                can_check_identity=self.parts.applicant_key is not None,
            )
        except HolderUnknown as exc:  # fail safe (ADR 0004): staff hand it over at the office
            raise CommandRejected("holder_unknown: " + str(exc)) from exc
        try:
            slot = self.locker.reserve_for_result(
                cmd.load_id, cmd.application_no, Size(cmd.size), holder_ref=holder
            )
        except LockerError as exc:  # no compartment free, load already done, ...
            raise CommandRejected(str(exc)) from exc
        return CommandResult(result={"compartment_id": slot.id})

    def _on_set_pickup_code(self, cmd: m.SetPickupCode) -> CommandResult:
        self._arming_allowed(cmd)
        expires = self.arming.code_expiry(cmd.code_expires_at, self.clock())
        try:
            slot = self.locker.set_pickup_code(
                cmd.load_id,
                cmd.code_digest,
                expires.timestamp(),
                cmd.phone_tail_digest,
            )
        except CodeCollision as exc:
            raise CommandRejected("code_collision: " + str(exc)) from exc
        except LockerError as exc:
            raise CommandRejected(str(exc)) from exc
        return CommandResult(result={"compartment_id": slot.id})

    def _on_open_compartment(self, cmd: m.OpenCompartment) -> CommandResult:
        # Capped with the arming commands: a stolen key must not open the bank in a minute.
        self._arming_allowed(cmd)
        try:
            check = self.locker.open(cmd.compartment_id, reason=f"operator: {cmd.reason}")
        except LockerError as exc:
            raise CommandRejected(str(exc)) from exc
        log.warning("compartment %s opened by an operator: %s", cmd.compartment_id, cmd.reason)
        return CommandResult(result={"compartment_id": cmd.compartment_id, "door": check.value})

    def _on_restart_kiosk(self, cmd: m.RestartKiosk) -> CommandResult:
        # After the dispatcher has recorded the command and queued the ack (durably): the
        # command redelivered after the restart is a duplicate, not a second restart.
        log.warning("kiosk restart asked by an operator: %s", cmd.reason)
        timer = threading.Timer(self.restart_delay_s, self.restart)
        timer.daemon = True
        timer.start()
        return CommandResult(detail=f"restarting in {self.restart_delay_s:.0f} s")

    def _on_resync_state(self, cmd: m.ResyncState) -> CommandResult:
        queued = self.report_unreported_pickups()
        self.link.publish_heartbeat()
        self.link.publish_telemetry()
        return CommandResult(result={"pickups_requeued": str(queued)})

    def _on_fetch_diagnostics(self, cmd: m.FetchDiagnostics) -> CommandResult:
        health = self.health.report() if getattr(self, "health", None) else {}
        return CommandResult(
            result={
                "software_version": SOFTWARE_VERSION,
                "config_version": self.config.active_version(),
                "healthy": str(bool(health.get("ok"))).lower(),
                "problems": json.dumps(health.get("problems", {}), ensure_ascii=False)[:2000],
                "compartments": json.dumps(self.locker.summary()),
                "outbox_backlog": str(self.outbox.backlog()),
                "uptime_s": f"{self.link.uptime_s():.0f}",
                "lockout_remaining_s": f"{self.locker.lockout_remaining():.0f}",
            }
        )

    def _on_withdraw_result(self, cmd: m.WithdrawResult) -> CommandResult:
        try:
            slot = self.locker.withdraw_result(cmd.load_id)
        except LockerError as exc:
            raise CommandRejected(str(exc)) from exc
        return CommandResult(result={"compartment_id": slot.id})

    # ---------------------------------------------------------------- reporting

    def _raise_alarm(self, alarm: LockerAlarm) -> None:
        kind, severity = _ALARM_KINDS.get(
            alarm.kind, (m.AlarmKind.DEVICE_FAULT, m.Severity.WARNING)
        )
        now = self.clock()
        with self._alarm_lock:
            self._alarm_seq += 1
            seq = self._alarm_seq
        # The id is fixed when the alarm is queued and kept by every re-send. The random part
        # keeps alarms raised in the same second by a restarted process (whose counter starts
        # again at 1) from being taken for duplicates of earlier ones at the backend.
        self.outbox.put(
            m.Alarm(
                terminal_id=self.terminal_id,
                operation_id=(
                    f"ALM-{self.terminal_id}-{now:%Y%m%d%H%M%S}-{seq}-{secrets.token_hex(4)}"
                ),
                kind=kind,
                severity=severity,
                compartment_id=alarm.compartment_id,
                detail=alarm.detail[:500],
                raised_at=now,
            )
        )
        log.warning("alarm %s on %s: %s", kind, alarm.compartment_id or "-", alarm.detail)

    def _security_alarm(self, detail: str) -> None:
        """A refused downstream message: one alarm a minute at most, however many arrive."""
        now = self.clock()
        if self._last_security_alarm and (now - self._last_security_alarm).total_seconds() < 60:
            return
        self._last_security_alarm = now
        self.outbox.put(
            m.Alarm(
                terminal_id=self.terminal_id,
                operation_id=f"SEC-{self.terminal_id}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}",
                kind=m.AlarmKind.SECURITY,
                severity=m.Severity.CRITICAL,
                detail=detail[:500],
                raised_at=now,
            )
        )
        log.error("security alarm: %s", detail)

    def telemetry(self) -> m.Telemetry:
        """The health report: every device port's diagnostics, disk, backlog (terminal.health)."""
        free, total = health.disk_usage(self.data_dir)
        return m.Telemetry(
            terminal_id=self.terminal_id,
            uptime_s=self.link.uptime_s(),
            outbox_backlog=self.outbox.backlog(),
            compartments=self.locker.summary(),
            devices=health.device_reports(self.devices, self.locker.boards.diagnostics()),
            lockout_remaining_s=self.locker.lockout_remaining(),
            disk_free_bytes=free,
            disk_total_bytes=total,
            config_version=self.config.active_version()[:64],
            service=self.service.state(),
        )
