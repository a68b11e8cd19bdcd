"""Compartment layout: sizes, ids, lock boards and channels, door inputs; validated at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Size(StrEnum):
    """Compartment size; ordered S < M < L (not alphabetically)."""

    S = "S"
    M = "M"
    L = "L"

    @property
    def rank(self) -> int:
        """Position in S < M < L."""
        return _RANK[self.value]

    # str's own comparisons would order "L" < "M" < "S"; sizes must order by volume.
    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Size):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Size):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Size):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Size):
            return NotImplemented
        return self.rank >= other.rank


_RANK = {"S": 0, "M": 1, "L": 2}


MAIN_BOARD = "main"


@dataclass(frozen=True)
class DoorInput:
    """Where a compartment's door sensor is wired: an input of a board that senses doors."""

    board: str
    input: int


@dataclass(frozen=True)
class CompartmentSpec:
    """One physical compartment: printed id, size, lock (board, channel), door sensor if any."""

    id: str
    size: Size
    channel: int
    board: str = MAIN_BOARD
    door: DoorInput | None = None  # None: no sensor; openings are confirmed by the citizen
    pulse_ms: int | None = None  # None: the bank's default pulse

    @property
    def sensed(self) -> bool:
        """Whether a door sensor tells when this compartment's door is open."""
        return self.door is not None


def default_layout(*, sensed: bool = False) -> list[CompartmentSpec]:
    """Nine compartments: A01-A04 small, A05-A07 medium, A08-A09 large, on channels 1..9.

    ``sensed``: each door is read on the same board's input of the same number, as on a
    lock-control board with feedback.
    """
    sizes = [Size.S] * 4 + [Size.M] * 3 + [Size.L] * 2
    return [
        CompartmentSpec(
            id=f"A{n:02d}",
            size=size,
            channel=n,
            door=DoorInput(MAIN_BOARD, n) if sensed else None,
        )
        for n, size in enumerate(sizes, start=1)
    ]
