"""Sticks from the Linux mount table (`/proc/self/mounts`), as udisks2 or systemd-mount left them.

The kiosk never mounts anything itself: the system mounts a stick read-only, noexec, nosuid and
nodev under a media root (docs/deploy-terminal.md). This driver only reads the table and keeps
the entries that look like a stick: a removable-media filesystem mounted below one of the roots.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from devices.storage.port import MediaError

# Filesystems found on USB sticks and memory cards (and optical media, for completeness).
REMOVABLE_FSTYPES = frozenset(
    {"vfat", "msdos", "exfat", "ntfs", "ntfs3", "fuseblk", "iso9660", "udf", "ext2", "ext3", "ext4"}
)
DEFAULT_ROOTS = ("/media", "/run/media")
# Options a stick should be mounted with; a mount lacking one is reported by diagnostics().
SAFE_OPTIONS = ("ro", "noexec", "nosuid", "nodev")

_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape(field: str) -> str:
    """A mount-table field with the kernel's octal escapes (\\040 space, \\011 tab…) decoded."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True)
class MountEntry:
    """One line of the mount table."""

    device: str
    path: PurePosixPath
    fstype: str
    options: tuple[str, ...]

    @property
    def unsafe_options(self) -> tuple[str, ...]:
        """The safe mount options this mount lacks (empty when it is read-only, noexec…)."""
        return tuple(o for o in SAFE_OPTIONS if o not in self.options)


def parse_mounts(text: str) -> list[MountEntry]:
    """Every well-formed line of a mounts-format text; malformed lines are skipped."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        path = unescape(fields[1])
        if not path.startswith("/"):
            continue
        entries.append(
            MountEntry(
                unescape(fields[0]),
                PurePosixPath(path),
                fields[2],
                tuple(fields[3].split(",")),
            )
        )
    return entries


class MountTableMedia:
    """Sticks mounted under `roots`, read from a mounts-format file (default /proc/self/mounts)."""

    def __init__(
        self,
        mounts_file: str | Path = "/proc/self/mounts",
        roots: Iterable[str | Path] = DEFAULT_ROOTS,
        fstypes: Iterable[str] = REMOVABLE_FSTYPES,
    ):
        self.mounts_file = Path(mounts_file)
        self.roots = tuple(PurePosixPath(r) for r in roots)
        self.fstypes = frozenset(fstypes)
        if not self.roots:
            raise ValueError("at least one media root is needed")
        if any(not r.is_absolute() for r in self.roots):
            raise ValueError(f"media roots must be absolute paths: {self.roots}")

    def entries(self) -> list[MountEntry]:
        """The mount-table entries that are sticks, the last mount on a path winning."""
        try:
            text = self.mounts_file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise MediaError(f"cannot read {self.mounts_file}: {exc.strerror or exc}") from None
        found: dict[PurePosixPath, MountEntry] = {}
        for entry in parse_mounts(text):
            found.pop(entry.path, None)  # a later mount on the same path hides the earlier
            if entry.fstype in self.fstypes and self._under_root(entry.path):
                found[entry.path] = entry
        return list(found.values())

    def mounts(self) -> list[Path]:
        return [Path(e.path) for e in self.entries()]

    def _under_root(self, path: PurePosixPath) -> bool:
        if ".." in path.parts:
            return False
        return any(path != root and path.is_relative_to(root) for root in self.roots)

    def diagnostics(self) -> dict[str, object]:
        report: dict[str, object] = {
            "driver": "mount-table",
            "mounts_file": str(self.mounts_file),
            "roots": [str(r) for r in self.roots],
        }
        try:
            sticks = self.entries()
        except MediaError as exc:
            report["error"] = str(exc)
            return report
        report["sticks"] = [
            {"path": str(e.path), "fstype": e.fstype, "missing_options": list(e.unsafe_options)}
            for e in sticks
        ]
        return report
