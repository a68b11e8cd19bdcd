"""The removable-media port: which USB sticks are mounted and readable right now."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class MediaError(Exception):
    """The terminal cannot tell which sticks are present; the text is for a technician."""


class RemovableMedia(Protocol):
    """USB sticks the system has mounted (read-only, noexec) for the kiosk to read."""

    def mounts(self) -> list[Path]:
        """The mount points of the sticks present now, in a stable order; MediaError if unknown."""
        ...

    def diagnostics(self) -> dict[str, object]:
        """Device facts for `allhours doctor`."""
        ...
