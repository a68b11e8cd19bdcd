"""An emulated USB stick: a real directory of files that is "inserted" and "removed".

Inserting writes the files into a fresh mount directory; removing deletes the directory, so
a reader that still holds a path finds nothing there, as after a stick is pulled out.
"""

from __future__ import annotations

import functools
import io
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from devices.storage.port import MediaError


class EmulatedMedia:
    """One USB port: at most one stick at a time, mounted under `root` (a temp dir by default)."""

    def __init__(
        self,
        root: Path | None = None,
        label: str = "USB-STICK",
        *,
        preload: Callable[[], Mapping[str, bytes]] | None = None,
    ):
        """preload: a stick already in the port, its files made when the port is first asked."""
        self._root = Path(root) if root is not None else None
        self._preload = preload
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.label = label
        self._mount: Path | None = None
        self._lock = threading.Lock()
        self.broken = False  # True: the mount table cannot be read (a technician's problem)
        self.insertions = 0

    def insert(self, files: Mapping[str, bytes]) -> Path:
        """Plug in a stick holding `files` (relative path -> content); returns its mount point."""
        with self._lock:
            self._unmount()
            if self._root is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="allhours-stick-")
                root = Path(self._tmp.name)
            else:
                root = self._root
            self.insertions += 1
            mount = root / f"{self.label}-{self.insertions}"
            for rel, data in files.items():
                target = mount / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            mount.mkdir(parents=True, exist_ok=True)
            self._mount = mount
            return mount

    def remove(self) -> None:
        """Pull the stick out: its files are gone."""
        with self._lock:
            self._unmount()

    def _unmount(self) -> None:
        if self._mount is not None:
            shutil.rmtree(self._mount, ignore_errors=True)
            self._mount = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def inserted(self) -> bool:
        return self._mount is not None

    def mounts(self) -> list[Path]:
        if self.broken:
            raise MediaError("emulated mount table unreadable")
        preload, self._preload = self._preload, None
        if preload is not None:
            self.insert(preload())
        with self._lock:
            return [self._mount] if self._mount is not None else []

    def diagnostics(self) -> dict[str, object]:
        return {"driver": "emulated", "inserted": self.inserted}


@functools.cache
def sample_documents() -> Mapping[str, bytes]:
    """What the demo's stick holds: a 2-page PDF, a photo of a page, a broken and a foreign file.

    Everything is generated here (pages from the document-camera emulator's renderer), so no
    third-party document ships with the project.
    """
    import img2pdf
    from PIL import Image

    from devices.camera.emulated import render_page

    def page(title: str, n: int, of: int) -> bytes:
        lines = [f"{title} - page {n} of {of}"] + [
            f"Line {i}: the quick brown fox jumps over the lazy dog." for i in range(1, 20)
        ]
        out = io.BytesIO()
        Image.fromarray(render_page(title, lines)).save(out, "JPEG", quality=80, dpi=(150, 150))
        return out.getvalue()

    register = img2pdf.convert([page("Household register", n, 2) for n in (1, 2)])
    return MappingProxyType(
        {
            "household-register.pdf": register,
            "photos/id-card-copy.jpg": page("Copy of ID card", 1, 1),
            "scan-damaged.pdf": register[: len(register) // 3],  # cut short: a broken PDF
            "notes.pdf": b"Shopping list: rice, eggs, tea.\n",  # named like a PDF, but text
        }
    )
