"""Door supervision: confirm commanded openings, catch forced doors and doors left open.

The supervisor reads every sensing board's door inputs (`DoorSensorPort.read_doors`) once
per poll, keeps the last known state of each sensed door, and turns transitions into alarms:

- closed -> open while no command for that compartment is in flight: `door_forced`, once per
  opening (the transition is the event);
- open for longer than `door_left_open_s`: `door_left_open`, once per opening;
- a board that stops answering: `device_fault`, once until it answers again. Its doors keep
  their last known state, so a door forced during the outage is still caught afterwards.

The bank polls through the same object while it waits for a door (`wait_open`), and a worker
thread polls in between (`start`/`stop`). Time comes from injected `monotonic` and `sleep`, so
tests step a fake clock instead of waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from devices.lock.port import LockFault
from locker.boards import BoardSet
from locker.config import SupervisionSettings
from locker.layout import CompartmentSpec

log = logging.getLogger(__name__)

DOOR_FORCED = "door_forced"
DOOR_LEFT_OPEN = "door_left_open"
DEVICE_FAULT = "device_fault"

AlarmSink = Callable[[str, str | None, str], None]


class DoorState(StrEnum):
    """What is known of a door right now."""

    OPEN = "open"
    CLOSED = "closed"
    UNSENSED = "unsensed"  # no sensor is wired to this door
    UNKNOWN = "unknown"  # its sensor board does not answer (or was never read)


@dataclass
class _Door:
    spec: CompartmentSpec
    known: DoorState | None = None  # last state read from the board; None: never read
    stale: bool = True  # the last read of its board failed
    opened_at: float | None = None
    left_open_alarmed: bool = False


class DoorSupervisor:
    """Watches every sensed door of one locker."""

    def __init__(
        self,
        specs: Iterable[CompartmentSpec],
        boards: BoardSet,
        *,
        settings: SupervisionSettings = SupervisionSettings(),  # noqa: B008 - frozen
        on_alarm: AlarmSink = lambda kind, cid, detail: None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._boards = boards
        self._on_alarm = on_alarm
        self._monotonic = monotonic
        self._sleep = sleep
        specs = list(specs)
        self._unsensed = {s.id for s in specs if s.door is None}
        self._doors = {s.id: _Door(s) for s in specs if s.door is not None}
        self._sensor_boards = sorted(
            {d.spec.door.board for d in self._doors.values() if d.spec.door is not None}
        )
        self._expected: set[str] = set()
        self._faulty: dict[str, str] = {}  # board id -> last error, while it does not answer
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- what the bank asks --------------------------------------------------------

    def sensed(self, compartment_id: str) -> bool:
        """Whether this compartment's door has a sensor."""
        return compartment_id in self._doors

    def expect(self, compartment_id: str) -> None:
        """A command is about to open this door: its opening is not forced."""
        with self._lock:
            self._expected.add(compartment_id)

    def settle(self, compartment_id: str) -> None:
        """The command is over: an opening from now on is nobody's command."""
        with self._lock:
            self._expected.discard(compartment_id)

    def state(self, compartment_id: str) -> DoorState:
        """The last known state of one door, without reading the board."""
        with self._lock:
            return self._state_of(compartment_id)

    def states(self) -> dict[str, DoorState]:
        """The last known state of every door, without reading the boards."""
        with self._lock:
            ids = [*self._doors, *sorted(self._unsensed)]
            return {cid: self._state_of(cid) for cid in ids}

    def wait_open(
        self, compartment_id: str, timeout_s: float | None = None, *, quiet: bool = False
    ) -> DoorState:
        """Poll until the door is open: OPEN, CLOSED when the limit passed, UNKNOWN if unread.

        ``quiet``: a board that does not answer raises no device_fault from this wait (the
        caller has just raised its own alarm for it); the worker's next poll still will.
        """
        if compartment_id not in self._doors:
            return DoorState.UNSENSED
        limit = self.settings.open_confirm_s if timeout_s is None else timeout_s
        deadline = self._monotonic() + limit
        while True:
            state = self.poll(quiet=quiet)[compartment_id]
            if state in (DoorState.OPEN, DoorState.UNKNOWN):
                return state
            left = deadline - self._monotonic()
            if left <= 0:
                return DoorState.CLOSED
            self._sleep(min(self.settings.poll_interval_s, left))

    def wait_shut(self, compartment_id: str) -> DoorState:
        """Poll until the door reads shut: CLOSED, OPEN when `close_confirm_s` passed with it
        open, UNSENSED or UNKNOWN (no sensor, or its board does not answer: a person's word)."""
        if compartment_id not in self._doors:
            return DoorState.UNSENSED
        deadline = self._monotonic() + self.settings.close_confirm_s
        while True:
            state = self.poll(quiet=True)[compartment_id]
            if state != DoorState.OPEN:
                return state
            left = deadline - self._monotonic()
            if left <= 0:
                return state
            self._sleep(min(self.settings.poll_interval_s, left))

    def faults(self) -> dict[str, str]:
        """Sensing boards that did not answer at the last poll, with the error."""
        with self._lock:
            return dict(self._faulty)

    # ---- polling -------------------------------------------------------------------

    def poll(self, *, quiet: bool = False) -> dict[str, DoorState]:
        """Read every sensing board once, raise the alarms that follow, return all states."""
        alarms: list[tuple[str, str | None, str]] = []
        with self._lock:
            readings = {bid: self._read(bid, alarms, quiet) for bid in self._sensor_boards}
            now = self._monotonic()
            for cid, door in self._doors.items():
                assert door.spec.door is not None
                reading = readings[door.spec.door.board]
                if reading is None or door.spec.door.input not in reading:
                    door.stale = True
                    continue
                door.stale = False
                self._track(cid, door, bool(reading[door.spec.door.input]), now, alarms)
            states = {cid: self._state_of(cid) for cid in [*self._doors, *sorted(self._unsensed)]}
        # Outside the lock: the alarm sink journals and queues, and must not block a poll.
        for kind, cid, detail in alarms:
            self._on_alarm(kind, cid, detail)
        return states

    def _read(
        self, board_id: str, alarms: list[tuple[str, str | None, str]], quiet: bool
    ) -> dict[int, bool] | None:
        try:
            reading = self._boards.read_doors(board_id)
        except LockFault as exc:
            if quiet:
                return None
            if board_id not in self._faulty:
                alarms.append(
                    (DEVICE_FAULT, None, f"door sensors of board {board_id} do not answer: {exc}")
                )
            self._faulty[board_id] = str(exc)
            return None
        if self._faulty.pop(board_id, None) is not None:
            log.warning("door sensors of board %s answer again", board_id)
        return reading

    def _track(
        self,
        cid: str,
        door: _Door,
        is_open: bool,
        now: float,
        alarms: list[tuple[str, str | None, str]],
    ) -> None:
        if is_open and door.known != DoorState.OPEN:
            door.opened_at = now
            door.left_open_alarmed = False
            if cid not in self._expected:
                alarms.append((DOOR_FORCED, cid, f"door of {cid} opened without any command"))
        if is_open:
            assert door.opened_at is not None
            if (
                not door.left_open_alarmed
                and now - door.opened_at >= self.settings.door_left_open_s
            ):
                door.left_open_alarmed = True
                alarms.append(
                    (
                        DOOR_LEFT_OPEN,
                        cid,
                        f"door of {cid} has been open for {self.settings.door_left_open_s:.0f} s",
                    )
                )
        else:
            door.opened_at = None
        door.known = DoorState.OPEN if is_open else DoorState.CLOSED

    def _state_of(self, cid: str) -> DoorState:
        if cid in self._unsensed:
            return DoorState.UNSENSED
        door = self._doors[cid]
        if door.stale or door.known is None:
            return DoorState.UNKNOWN
        return door.known

    # ---- worker thread ---------------------------------------------------------------

    def start(self) -> DoorSupervisor:
        """Poll in a worker thread until stop(); nothing to do without sensed doors."""
        with self._lock:
            if not self._doors or (self._thread and self._thread.is_alive()):
                return self
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="door-supervisor", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the worker thread and wait for it."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        self._thread = None

    @property
    def running(self) -> bool:
        """Whether the worker thread is polling."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # a bug in one poll must not end supervision for good
                log.exception("door supervision poll failed")
            self._stop.wait(self.settings.poll_interval_s)
