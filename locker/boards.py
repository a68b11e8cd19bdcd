"""Routing of compartments to the lock boards that drive them and the boards that sense them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from devices.lock.port import DoorSensorPort, LockFault, LockPort
from locker.errors import LayoutError
from locker.layout import MAIN_BOARD, CompartmentSpec


class BoardSet:
    """The terminal's lock boards by id; one wire lock per bus so frames never interleave.

    Boards on the same RS-485 bus share one serial line: give them the same ``wires`` key
    (the port path) and their commands and door reads are serialised together.
    """

    def __init__(
        self, boards: Mapping[str, LockPort], *, wires: Mapping[str, str] | None = None
    ) -> None:
        if not boards:
            raise LayoutError("a locker needs at least one lock board")
        self._boards = dict(boards)
        wires = dict(wires or {})
        locks: dict[str, threading.Lock] = {}
        self._locks = {
            bid: locks.setdefault(wires.get(bid, f"board:{bid}"), threading.Lock())
            for bid in self._boards
        }

    @classmethod
    def single(cls, lock: LockPort) -> BoardSet:
        """One board under the id 'main', as the default layout expects."""
        return cls({MAIN_BOARD: lock})

    @property
    def ids(self) -> list[str]:
        """Board ids in configuration order."""
        return list(self._boards)

    def board(self, board_id: str) -> LockPort:
        """The driver of one board."""
        return self._boards[board_id]

    def senses(self, board_id: str) -> bool:
        """Whether the board has door inputs."""
        return isinstance(self._boards.get(board_id), DoorSensorPort)

    def check(self, specs: Iterable[CompartmentSpec]) -> None:
        """Refuse a layout that names a board this set lacks or reads doors on a relay board."""
        for spec in specs:
            if spec.board not in self._boards:
                raise LayoutError(
                    f"compartment {spec.id}: lock board {spec.board!r} is not connected "
                    f"(boards: {', '.join(self._boards)})"
                )
            if spec.door is not None and not self.senses(spec.door.board):
                raise LayoutError(
                    f"compartment {spec.id}: door input on board {spec.door.board!r}, which "
                    "does not sense doors"
                )

    def unlock(self, spec: CompartmentSpec, pulse_ms: int) -> None:
        """Pulse the compartment's channel on its board; LockFault names the board."""
        board = self._boards[spec.board]
        with self._locks[spec.board]:
            try:
                board.unlock(spec.channel, pulse_ms)
            except LockFault as exc:
                raise LockFault(f"board {spec.board} channel {spec.channel}: {exc}") from exc

    def read_doors(self, board_id: str) -> dict[int, bool]:
        """Door inputs of one sensing board; LockFault names the board."""
        board = self._boards[board_id]
        if not isinstance(board, DoorSensorPort):
            raise LockFault(f"board {board_id} has no door inputs")
        with self._locks[board_id]:
            try:
                return dict(board.read_doors())
            except LockFault as exc:
                raise LockFault(f"board {board_id}: {exc}") from exc

    def diagnostics(self) -> dict[str, dict[str, object]]:
        """Each board's own diagnostics, by board id; a failing report is shown, not raised."""
        report: dict[str, dict[str, object]] = {}
        for bid, board in self._boards.items():
            try:
                report[bid] = dict(board.diagnostics())
            except Exception as exc:  # a diagnostics bug must not hide the other boards
                report[bid] = {"connected": False, "last_error": f"diagnostics failed: {exc}"}
        return report

    def close(self) -> None:
        """Release every driver's device (serial ports, USB handles)."""
        for board in self._boards.values():
            close = getattr(board, "close", None)
            if close is not None:
                close()
