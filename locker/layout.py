"""Compartment layout: sizes, ids, lock boards and channels, door inputs; validated at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from locker.errors import LayoutError


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


_KEYS = {"id", "size", "channel"}


def parse_layout(items: list[dict]) -> list[CompartmentSpec]:
    """Turn configuration entries into specs; raise LayoutError naming the first bad entry."""
    if not isinstance(items, list) or not items:
        raise LayoutError("locker layout must be a non-empty list of compartments")
    specs: list[CompartmentSpec] = []
    ids: dict[str, int] = {}
    channels: dict[int, str] = {}
    for index, item in enumerate(items):
        where = f"layout entry {index}"
        if not isinstance(item, dict):
            raise LayoutError(f"{where}: expected a mapping with id, size and channel")
        if isinstance(item.get("id"), str):
            where += f" ({item['id']})"
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise LayoutError(f"{where}: unknown key {unknown[0]!r} (allowed: channel, id, size)")
        missing = sorted(_KEYS - set(item))
        if missing:
            raise LayoutError(f"{where}: missing key {missing[0]!r}")
        cid, size, channel = item["id"], item["size"], item["channel"]
        if not isinstance(cid, str) or not cid.strip() or cid != cid.strip():
            raise LayoutError(f"{where}: id must be a non-empty string without spaces around it")
        if size not in _RANK:
            raise LayoutError(f"{where}: unknown size {size!r} (known: S, M, L)")
        # bool is an int in Python; `channel: true` in a config file is a typo, not channel 1.
        if not isinstance(channel, int) or isinstance(channel, bool) or channel < 1:
            raise LayoutError(f"{where}: channel must be a positive integer, got {channel!r}")
        if cid in ids:
            raise LayoutError(f"{where}: id {cid} is already used by entry {ids[cid]}")
        if channel in channels:
            raise LayoutError(f"{where}: channel {channel} is already used by {channels[channel]}")
        ids[cid] = index
        channels[channel] = cid
        specs.append(CompartmentSpec(id=cid, size=Size(size), channel=channel))
    return specs
