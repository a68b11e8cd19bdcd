"""Defensive import of PDF, JPEG and PNG files from a citizen's USB stick.

Nothing from the stick is trusted or passed on as it is. The terminal:

- opens files only inside the mount, one path component at a time with O_NOFOLLOW, and only
  regular files (no symlink, FIFO, device or socket), never blocking on the open;
- sniffs the type from the magic bytes, not the name;
- parses and renders in a child process with hard limits (address space, CPU, no file
  growing past 0 bytes, no core) and a wall-clock deadline, so a file that crashes or hangs
  the parser (PDFium, Pillow) costs that child only;
- confines that child before it reads a byte of the file (`sandbox_child`): new user,
  network and mount namespaces, an empty read-only root (PDFium's font directories bound in
  read-only), no capabilities, no new privileges, no new processes, no file descriptor but
  its pipes. A parser exploit then cannot read the kiosk's files, change or delete any file,
  reach the network or start a program. Where the kernel refuses unprivileged user
  namespaces only the last three hold, and the terminal logs once that the import runs less
  confined;
- gets back raw RGB pixels of each page in a fixed, bounded frame format, and builds the
  material from those pixels alone (JPEG pages, a fresh PDF via img2pdf). No byte of the
  original file reaches the backend: JavaScript, actions, forms logic and metadata are gone.

Every refusal is an `ImportRefused` with a stable code and a message for the citizen in
Chinese and English.
"""

from __future__ import annotations

import io
import json
import logging
import os
import selectors
import stat
import struct
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from terminal.coded import CitizenError

log = logging.getLogger(__name__)

MiB = 1024 * 1024

PDF_MAGIC = b"%PDF-"
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NAME_HINTS = (".pdf", ".jpg", ".jpeg", ".png")


class FileKind(StrEnum):
    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"


def sniff(head: bytes) -> FileKind | None:
    """The file type from its first bytes, or None; the name is never consulted."""
    if head.startswith(PDF_MAGIC):
        return FileKind.PDF
    if head.startswith(JPEG_MAGIC):
        return FileKind.JPEG
    if head.startswith(PNG_MAGIC):
        return FileKind.PNG
    return None


@dataclass(frozen=True)
class ImportLimits:
    """Bounds on what one file may cost; the defaults suit a kiosk with 2 GB of memory."""

    max_file_bytes: int = 20 * MiB
    max_pages: int = 20
    max_image_pixels: int = 64_000_000  # declared size of a photo, checked before decoding
    max_page_pixels: int = 5_000_000  # a rendered page; caps page-size bombs in PDFs
    render_dpi: float = 150.0
    thumbnail_px: int = 320
    jpeg_quality: int = 85
    timeout_s: float = 30.0  # wall clock for one file's child process
    cpu_s: int = 20
    memory_bytes: int = 1536 * MiB
    max_listed: int = 200
    max_depth: int = 4


# ---------------------------------------------------------------- refusals

# Why a file is refused; the kiosk's catalogs word each one as usb.reason.<code>.
REASONS = frozenset(
    {
        "not_found",
        "not_regular_file",
        "outside_stick",
        "unreadable",
        "empty",
        "too_large",
        "unsupported_type",
        "broken",
        "encrypted",
        "too_many_pages",
        "image_too_large",
        "embedded_files",
        "too_slow",
    }
)


class ImportRefused(CitizenError):
    """A file the terminal will not import; `code` is stable, `key` words it for the citizen.

    The file's name is kept in `name`, never in the message: it may name the citizen.
    """

    def __init__(self, code: str, name: str = "", **fmt: object):
        if code not in REASONS:
            raise ValueError(f"no such refusal: {code!r}")
        super().__init__(f"usb.reason.{code}", **fmt)
        self.code = code
        self.name = name


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ImportedPage:
    """One clean page: a JPEG made from rendered pixels, and a PNG thumbnail for the preview."""

    jpeg: bytes = field(repr=False)
    width: int
    height: int
    dpi: float
    thumbnail_png: bytes = field(repr=False)


@dataclass(frozen=True)
class ImportedFile:
    """A file taken from the stick, as clean pages; `removed` names active content left out."""

    name: str = field(repr=False)  # a file name may name the citizen ("张三身份证.pdf")
    kind: FileKind
    size: int
    pages: tuple[ImportedPage, ...]
    removed: tuple[str, ...] = ()

    def pdf(self) -> bytes:
        """A fresh PDF of these pages."""
        return pages_to_pdf(self.pages)


@dataclass(frozen=True)
class Candidate:
    """An entry on the stick the citizen may pick, or see why it cannot be used."""

    path: str = field(repr=False)  # relative to the mount, '/'-separated; may name the citizen
    size: int
    kind: FileKind | None
    refusal: ImportRefused | None = None


SHOWN_MAX = 60  # characters of a path on the kiosk's file list; a longer one keeps both ends
_NOT_SHOWN = frozenset({"Cc", "Cf", "Cs", "Co"})  # controls, format (bidi), surrogates, private


def shown_path(path: str) -> str:
    """A stick's path as the file list shows it: decoded, printable and not too long.

    The kernel hands over names as they are on the stick. Bytes that are not UTF-8 (a stick
    written on a PC set to GBK, or a damaged one) come as surrogate escapes, which the kiosk's
    text renderer cannot encode: drawing the list raised, and the kiosk stopped. Such a name is
    read as GB18030 where it is that, else each bad byte shows as U+FFFD. So do control and
    format characters: a newline, or a right-to-left override that makes "cod.exe" read as
    "exe.doc". `Candidate.path` keeps the name as it is, to open the file by.
    """
    raw = os.fsencode(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
    text = "".join("\ufffd" if unicodedata.category(c) in _NOT_SHOWN else c for c in text)
    if len(text) > SHOWN_MAX:
        tail = SHOWN_MAX // 3  # the end, with the extension, stays in view
        text = text[: SHOWN_MAX - tail - 1] + "…" + text[-tail:]
    return text


def pages_to_pdf(pages: Sequence[ImportedPage]) -> bytes:
    """One PDF holding `pages` in order; JPEG data is embedded as it is (img2pdf, lossless)."""
    import img2pdf

    if not pages:
        raise ValueError("a PDF needs at least one page")
    return img2pdf.convert([p.jpeg for p in pages], rotation=img2pdf.Rotation.ifvalid)


# ---------------------------------------------------------------- opening files safely

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _components(relpath: str) -> list[str]:
    parts = [p for p in relpath.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or relpath.startswith("/") or ".." in parts:
        raise ImportRefused("outside_stick", relpath[-80:])
    return parts


def open_inside(mount: Path, relpath: str) -> tuple[int, os.stat_result]:
    """Open a regular file under `mount` without following any symlink; (fd, stat)."""
    parts = _components(relpath)
    name = parts[-1]
    try:
        cur = os.open(mount, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ImportRefused("not_found", name) from None
    except OSError:
        raise ImportRefused("unreadable", name) from None
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=cur)
            except FileNotFoundError:
                raise ImportRefused("not_found", name) from None
            except OSError:  # a symlinked or non-directory component
                raise ImportRefused("not_regular_file", name) from None
            os.close(cur)
            cur = nxt
        try:
            st = os.stat(name, dir_fd=cur, follow_symlinks=False)
        except FileNotFoundError:
            raise ImportRefused("not_found", name) from None
        except OSError:
            raise ImportRefused("unreadable", name) from None
        if not stat.S_ISREG(st.st_mode):  # symlink, FIFO, device, socket, directory
            raise ImportRefused("not_regular_file", name)
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=cur)
        except FileNotFoundError:
            raise ImportRefused("not_found", name) from None
        except OSError:
            raise ImportRefused("not_regular_file", name) from None
    finally:
        os.close(cur)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):  # swapped between stat and open
        os.close(fd)
        raise ImportRefused("not_regular_file", name)
    os.set_blocking(fd, True)
    return fd, st


def _read_head(fd: int, n: int = 16) -> bytes:
    try:
        return os.pread(fd, n, 0)
    except OSError:
        return b""


def list_candidates(mount: Path, limits: ImportLimits | None = None) -> list[Candidate]:
    """Files on the stick worth showing: sniffed PDF/JPEG/PNG, or named like one (refused)."""
    limits = limits or ImportLimits()
    found: list[Candidate] = []

    def walk(rel: str, depth: int) -> None:
        try:
            with os.scandir(Path(mount) / rel if rel else mount) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if len(found) >= limits.max_listed:
                return
            if entry.name.startswith("."):  # hidden files, macOS "._" forks
                continue
            path = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if depth < limits.max_depth:
                    walk(path, depth + 1)
                continue
            found.append(_candidate(Path(mount), path, limits))
            if found[-1].kind is None and found[-1].refusal is None:
                found.pop()

    walk("", 0)
    return found


def _candidate(mount: Path, path: str, limits: ImportLimits) -> Candidate:
    named = path.lower().endswith(NAME_HINTS)
    try:
        fd, st = open_inside(mount, path)
    except ImportRefused as refusal:
        return Candidate(path, 0, None, refusal if named else None)
    try:
        kind = sniff(_read_head(fd))
    finally:
        os.close(fd)
    refusal = None
    if st.st_size == 0:
        refusal = ImportRefused("empty", path)
    elif kind is None:
        refusal = ImportRefused("unsupported_type", path) if named else None
    elif st.st_size > limits.max_file_bytes:
        refusal = ImportRefused("too_large", path, limit=limits.max_file_bytes // MiB)
    return Candidate(path, st.st_size, kind, refusal)


# ---------------------------------------------------------------- importing


def import_file(mount: Path, relpath: str, limits: ImportLimits | None = None) -> ImportedFile:
    """Import one file from under `mount`: checked, rendered in a sandbox, rebuilt clean."""
    limits = limits or ImportLimits()
    fd, st = open_inside(mount, relpath)
    name = _components(relpath)[-1]
    try:
        if st.st_size == 0:
            raise ImportRefused("empty", name)
        if st.st_size > limits.max_file_bytes:
            raise ImportRefused("too_large", name, limit=limits.max_file_bytes // MiB)
        kind = sniff(_read_head(fd))
        if kind is None:
            raise ImportRefused("unsupported_type", name)
        return _render_in_child(fd, name, kind, st.st_size, limits)
    finally:
        os.close(fd)


def import_path(path: Path, limits: ImportLimits | None = None) -> ImportedFile:
    """Import one file given by its path (its last component must not be a symlink)."""
    path = Path(path)
    return import_file(path.parent, path.name, limits)


# ---------------------------------------------------------------- the child process
#
# Frames on the child's stdout: 4-byte tag, 4-byte big-endian length, payload.
#   INFO  JSON {"pages": n, "removed": [...]}      once, before any page
#   PAGE  >II width, height, then width*height*3 bytes of RGB
#   DONE  empty                                     after the last page
#   FAIL  JSON {"code": ..., "limit": ...}          instead of anything further

_FRAME = struct.Struct(">4sI")
_PAGE_HEAD = struct.Struct(">II")
_MAX_JSON = 4096


def _render_in_child(
    fd: int, name: str, kind: FileKind, size: int, limits: ImportLimits
) -> ImportedFile:
    proc = _start_child(fd, limits, ["-m", "terminal.materials.usb_import", kind.value])
    assert proc.stdout is not None
    reader = _FrameReader(proc.stdout.fileno(), time.monotonic() + limits.timeout_s, name)
    try:
        return _collect(reader, name, kind, size, limits)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _start_child(fd: int, limits: ImportLimits, args: Sequence[str]) -> subprocess.Popen[bytes]:
    """`python -s ARGS` with the file on stdin, a pipe on stdout, an empty environment and `/`.

    Only file descriptors 0-2 are passed on (close_fds); the tests start their probes here too.
    """
    env = {"PATH": os.defpath, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env["ALLHOURS_USB_LIMITS"] = json.dumps(asdict(limits))
    return subprocess.Popen(
        [sys.executable, "-s", *args],
        stdin=fd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd="/",
        close_fds=True,
    )


def _collect(
    reader: _FrameReader, name: str, kind: FileKind, size: int, limits: ImportLimits
) -> ImportedFile:
    from PIL import Image

    tag, payload = reader.frame(_MAX_JSON)
    if tag == b"FAIL":
        raise _refusal_from(payload, name, limits)
    if tag != b"INFO":
        raise ImportRefused("broken", name)
    info = _json(payload, name)
    _note_sandbox(info.get("sandbox"))
    count, removed = info.get("pages"), info.get("removed", [])
    if not isinstance(count, int) or not 1 <= count <= limits.max_pages:
        raise ImportRefused("broken", name)
    if not isinstance(removed, list) or not all(isinstance(r, str) for r in removed):
        raise ImportRefused("broken", name)
    pages = []
    for _ in range(count):
        tag, payload = reader.frame(_PAGE_HEAD.size + limits.max_page_pixels * 3)
        if tag == b"FAIL":
            raise _refusal_from(payload, name, limits)
        if tag != b"PAGE" or len(payload) < _PAGE_HEAD.size:
            raise ImportRefused("broken", name)
        width, height = _PAGE_HEAD.unpack_from(payload)
        pixels = memoryview(payload)[_PAGE_HEAD.size :]
        if not (0 < width * height <= limits.max_page_pixels) or len(pixels) != width * height * 3:
            raise ImportRefused("broken", name)
        pages.append(_clean_page(Image.frombytes("RGB", (width, height), pixels), kind, limits))
    tag, _ = reader.frame(_MAX_JSON)
    if tag != b"DONE":
        raise ImportRefused("broken", name)
    return ImportedFile(name, kind, size, tuple(pages), tuple(sorted(set(removed))[:10]))


def _clean_page(image, kind: FileKind, limits: ImportLimits) -> ImportedPage:
    # A PDF page was rendered at render_dpi (or less, for oversized pages, which then print
    # larger); a photo is laid out so that its long side is an A4 page's long side.
    long_side = max(image.size)
    dpi = limits.render_dpi if kind == FileKind.PDF else max(long_side / 11.69, 1.0)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=limits.jpeg_quality, dpi=(dpi, dpi))
    thumb = image.copy()
    thumb.thumbnail((limits.thumbnail_px, limits.thumbnail_px))
    tbuf = io.BytesIO()
    thumb.save(tbuf, "PNG")
    return ImportedPage(buf.getvalue(), image.width, image.height, dpi, tbuf.getvalue())


def _json(payload: bytes, name: str) -> dict[str, object]:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError):
        # RecursionError: a child that a file took over may send JSON nested thousands deep.
        raise ImportRefused("broken", name) from None
    if not isinstance(value, dict):
        raise ImportRefused("broken", name)
    return value


def _refusal_from(payload: bytes, name: str, limits: ImportLimits) -> ImportRefused:
    code = _json(payload, name).get("code")
    if code not in REASONS or code in ("not_found", "not_regular_file", "outside_stick"):
        return ImportRefused("broken", name)
    if code == "too_large":
        return ImportRefused(code, name, limit=limits.max_file_bytes // MiB)
    if code == "too_many_pages":
        return ImportRefused(code, name, limit=limits.max_pages)
    return ImportRefused(str(code), name)


class _FrameReader:
    """Reads bounded frames from the child's pipe, never past the deadline."""

    def __init__(self, fd: int, deadline: float, name: str):
        self.fd, self.deadline, self.name = fd, deadline, name
        self.selector = selectors.DefaultSelector()
        os.set_blocking(fd, False)
        self.selector.register(fd, selectors.EVENT_READ)

    def _exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise ImportRefused("too_slow", self.name)
            if not self.selector.select(left):
                continue
            try:
                chunk = os.read(self.fd, min(n - len(buf), 1 << 20))
            except BlockingIOError:
                continue
            if not chunk:  # the child died (crash, memory or CPU limit) or closed early
                raise ImportRefused("broken", self.name)
            buf += chunk
        return bytes(buf)

    def frame(self, max_len: int) -> tuple[bytes, bytes]:
        try:
            tag, length = _FRAME.unpack(self._exactly(_FRAME.size))
            if length > max_len:
                raise ImportRefused("broken", self.name)
            return tag, self._exactly(length)
        except BaseException:
            self.selector.close()
            raise


def _child_main(kind: str) -> int:
    """Runs in the child: `sandbox_child` first, then read stdin, parse, render, stream pages."""
    limits, confinement = sandbox_child(kind)
    out = sys.stdout.buffer

    def send(tag: bytes, payload: bytes) -> None:
        out.write(_FRAME.pack(tag, len(payload)))
        out.write(payload)
        out.flush()

    def fail(code: str) -> int:
        send(b"FAIL", json.dumps({"code": code}).encode())
        return 0

    data = sys.stdin.buffer.read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        return fail("too_large")
    if not data:
        return fail("empty")
    if sniff(data[:16]) != FileKind(kind):  # the file changed under us
        return fail("broken")
    try:
        if kind == FileKind.PDF:
            pages, removed, error = _pdf_pages(data, limits)
        else:
            pages, removed, error = _image_pages(data, limits)
    except MemoryError:
        return fail("image_too_large")
    if error:
        return fail(error)
    info = {"pages": len(pages), "removed": removed, "sandbox": confinement.report()}
    send(b"INFO", json.dumps(info).encode())
    for render in pages:
        try:
            image = render()
        except MemoryError:
            return fail("image_too_large")
        except Exception:
            return fail("broken")
        send(b"PAGE", _PAGE_HEAD.pack(image.width, image.height) + image.tobytes())
    send(b"DONE", b"")
    return 0


# ---------------------------------------------------------------- the sandbox
#
# A file that exploits PDFium or Pillow runs its code in the child, as the kiosk's user. Before
# the child reads the file it gives up everything parsing does not need:
#
# - new user, network and mount namespaces (one unshare): no network at all, not even
#   loopback or the abstract Unix sockets of the session (X11, D-Bus);
# - an empty tmpfs, read-only, as its root (chroot): none of the kiosk's files (its key, its
#   database, the scans) is there to read, change or delete. PDFium's font directories are
#   bound in read-only at their own paths: a PDF may name a font without embedding it;
# - no capabilities left in its user namespace (they would let it leave the chroot), no new
#   privileges, no new processes (RLIMIT_NPROC 0) and no file descriptor but stdin (the
#   file), stdout (the pipe back) and stderr (/dev/null).
#
# Everything it imports after that is imported before (`_PRELOAD`): there are no files left
# to import from. The kernel must allow unprivileged user namespaces; where it does not, only
# the last three measures hold, the child says so in its INFO frame and the terminal logs it
# once (docs/materials.md, "The sandbox").

# What the child confines itself with; its report names the measures that did not take.
SANDBOX_MEASURES = (
    "namespaces",  # user, network and mount
    "empty_root",
    "no_capabilities",
    "no_new_privs",
    "no_new_processes",
    "only_pipes",
)

# What parsing imports on first use (Pillow's plugins; PIL for PDFium's bitmaps; ImageFile for
# Image.tobytes) or for some files only (EXIF: TiffImagePlugin; a JPEG holding more pictures:
# MpoImagePlugin): loaded before confinement, or such a file would be refused as broken.
# Checked by parsing the test files and a few hundred mutated ones confined and unconfined:
# the same pixels and the same refusals.
_PRELOAD: dict[str, tuple[str, ...]] = {
    FileKind.PDF: ("pypdfium2", "pypdfium2.raw", "pypdfium2.version", "PIL.Image", "PIL.ImageFile"),
    FileKind.JPEG: (
        "PIL.Image",
        "PIL.ImageFile",
        "PIL.ImageOps",
        "PIL.ImagePalette",
        "PIL.JpegImagePlugin",
        "PIL.MpoImagePlugin",
        "PIL.PngImagePlugin",
        "PIL.TiffImagePlugin",
    ),
}
_PRELOAD[FileKind.PNG] = _PRELOAD[FileKind.JPEG]

# PDFium's own list of where fonts are (its Linux defaults), bound into the empty root.
_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "/usr/share/X11/fonts/Type1",
    "/usr/share/X11/fonts/TTF",
)
_ROOT = "/tmp"  # where the empty root is mounted, in the child's own mount namespace only

_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
_MS_LOCKED_DOWN = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
_MNT_DETACH = 2
_PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


@dataclass(frozen=True)
class Confinement:
    """What the child's confinement achieved: the measures `missing`, and why (OS errors)."""

    missing: tuple[str, ...] = ()
    why: str = ""

    def report(self) -> dict[str, object]:
        return {"missing": list(self.missing), "why": self.why}


def sandbox_child(kind: str) -> tuple[ImportLimits, Confinement]:
    """Everything the child does before it reads the file: limits, parsers loaded, confinement.

    `_child_main` calls it first; so do the tests' probes, started by `_start_child` as the
    importer starts its child, to show what code that runs after it can and cannot do.
    """
    import resource

    limits = ImportLimits(**json.loads(os.environ["ALLHOURS_USB_LIMITS"]))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _preload(kind)
    return limits, _confine()


def _preload(kind: str) -> None:
    import importlib
    import warnings

    for name in _PRELOAD.get(kind, ()):
        importlib.import_module(name)
    if kind == FileKind.PDF:
        from pypdfium2._lazy import Lazy

        assert Lazy.PIL_Image  # PdfBitmap.to_pil imports PIL through this, on first use
    elif kind in _PRELOAD:
        from PIL import Image

        Image.preinit()  # the plugins Image.open imports on its first call
    # A warning is printed with a line of the source that raised it: not to be looked up.
    warnings.simplefilter("ignore")


def _confine() -> Confinement:
    """Confine the calling process for good: each of `SANDBOX_MEASURES` that the kernel allows."""
    import resource

    libc = _libc()
    missing: list[str] = []
    why: list[str] = []

    def attempt(measure: str, step: Callable[[], object]) -> bool:
        try:
            step()
        except OSError as exc:
            missing.append(measure)
            why.append(f"{measure}: {exc.strerror or exc}")
            return False
        return True

    uid, gid = os.getuid(), os.getgid()
    if attempt("namespaces", lambda: _unshare(libc)):
        attempt("empty_root", lambda: _empty_root(libc, uid, gid))
        attempt("no_capabilities", lambda: _drop_capabilities(libc))
    else:  # both need the user namespace: chroot and capabilities are root's outside it
        missing += ["empty_root", "no_capabilities"]
    attempt("no_new_privs", lambda: _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl"))
    attempt("no_new_processes", lambda: resource.setrlimit(resource.RLIMIT_NPROC, (0, 0)))
    # Whatever an import left open (close_range(2); no descriptor is above the hard limit).
    os.closerange(3, max(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 20))
    return Confinement(tuple(missing), "; ".join(why)[:300])


def _libc():
    """libc's calls the confinement makes, with their C types (flags are unsigned long)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    text, ulong = ctypes.c_char_p, ctypes.c_ulong
    libc.unshare.argtypes = [ctypes.c_int]
    libc.mount.argtypes = [text, text, text, ulong, ctypes.c_void_p]
    libc.umount2.argtypes = [text, ctypes.c_int]
    libc.prctl.argtypes = [ctypes.c_int, ulong, ulong, ulong, ulong]
    libc.capset.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return libc


def _check(result: int, what: str) -> None:
    """A libc call's -1 as the OSError it stands for."""
    import ctypes

    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(libc) -> None:
    _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWNS), "unshare")


def _empty_root(libc, uid: int, gid: int) -> None:
    """An empty read-only tmpfs as `/`, with the font directories bound in read-only."""
    # Our own ids only, no supplementary groups: the tmpfs is then ours to lay out.
    for name, value in (
        ("setgroups", "deny"),
        ("uid_map", f"{uid} {uid} 1"),
        ("gid_map", f"{gid} {gid} 1"),
    ):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(value)
    # Nothing mounted here reaches the kiosk's mount namespace.
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
    root = _ROOT.encode()
    options = b"size=64k,nr_inodes=64,mode=0555"
    _check(libc.mount(b"none", root, b"tmpfs", _MS_LOCKED_DOWN, options), "mount tmpfs")
    for source in _FONT_DIRS:
        if os.path.isdir(source):
            _bind_read_only(libc, source, _ROOT + source)
    _check(
        libc.mount(None, root, None, _MS_REMOUNT | _MS_RDONLY | _MS_LOCKED_DOWN, None),
        "remount tmpfs read-only",
    )
    os.chdir(_ROOT)
    os.chroot(".")
    os.chdir("/")


def _bind_read_only(libc, source: str, target: str) -> None:
    """Bind `source` at `target` read-only, or leave it out (its fonts are then missing)."""
    try:
        os.makedirs(target, exist_ok=True)
        _check(libc.mount(source.encode(), target.encode(), None, _MS_BIND | _MS_REC, None), "bind")
    except OSError:
        return
    flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_LOCKED_DOWN
    if libc.mount(None, target.encode(), None, flags, None) != 0:
        # Never a writable directory inside the root: without it, or no root at all.
        _check(libc.umount2(target.encode(), _MNT_DETACH), "unbind a font directory")


def _drop_capabilities(libc) -> None:
    """No capability left in the user namespace: chroot, mount, unshare are over for good."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [(f, ctypes.c_uint32) for f in ("effective", "permitted", "inheritable")]

    header, data = Header(_LINUX_CAPABILITY_VERSION_3, 0), (Data * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset")


_sandbox_noted = threading.Lock()
_sandbox_logged = False


def _note_sandbox(report: object) -> None:
    """Log once per process, at the first import, when the child ran less confined than meant.

    The report comes from the child, whose word is worth nothing once a file took it over: it
    is only ever logged, in bounded, printable form.
    """
    global _sandbox_logged
    if _sandbox_logged or not isinstance(report, dict):
        return
    missing = report.get("missing")
    if not isinstance(missing, list):
        return
    known = [m for m in SANDBOX_MEASURES if m in missing]
    why = report.get("why")
    why = "".join(c if c.isprintable() else "?" for c in why[:300]) if isinstance(why, str) else ""
    with _sandbox_noted:
        if _sandbox_logged:
            return
        _sandbox_logged = True
    if known:
        log.warning(
            "USB import runs less confined than designed, without: %s (%s). A file that"
            " exploits PDFium or Pillow could read and delete what the kiosk's user may, and"
            " reach the network; this kernel must allow unprivileged user namespaces"
            " (docs/materials.md, 'The sandbox')",
            ", ".join(known),
            why,
        )
    else:
        log.info(
            "USB import: files are parsed in a confined child (%s)", ", ".join(SANDBOX_MEASURES)
        )


def _pdf_pages(data: bytes, limits: ImportLimits):
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c
    from pypdfium2.version import PDFIUM_INFO

    if any("V8" in flag or "XFA" in flag for flag in PDFIUM_INFO.flags):
        return [], [], "broken"  # a PDFium that could run scripts is not used here
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            return [], [], "encrypted"
        return [], [], "broken"
    if pdfium_c.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1:
        return [], [], "encrypted"  # also owner-password-only files: refused, not bypassed
    count = len(pdf)
    if count < 1:
        return [], [], "broken"
    if count > limits.max_pages:
        return [], [], "too_many_pages"
    if pdfium_c.FPDFDoc_GetAttachmentCount(pdf.raw) > 0:
        return [], [], "embedded_files"
    removed = []
    if pdfium_c.FPDFDoc_GetJavaScriptActionCount(pdf.raw) > 0:
        removed.append("javascript")
    if pdfium_c.FPDF_GetFormType(pdf.raw) != pdfium_c.FORMTYPE_NONE:
        removed.append("form_fields")  # their values are drawn into the page, the logic is not
        pdf.init_forms()

    def render(index: int):
        page = pdf[index]
        width_pt, height_pt = page.get_size()
        if not (width_pt >= 1 and height_pt >= 1):
            raise ValueError("degenerate page")
        scale = limits.render_dpi / 72.0
        if width_pt * height_pt * scale * scale > limits.max_page_pixels:
            scale = (limits.max_page_pixels / (width_pt * height_pt)) ** 0.5 * 0.999
        bitmap = page.render(scale=scale, may_draw_forms=True)
        return bitmap.to_pil().convert("RGB")

    return [lambda i=i: render(i) for i in range(count)], removed, None


def _image_pages(data: bytes, limits: ImportLimits):
    import warnings

    from PIL import Image, ImageOps

    warnings.simplefilter("error", Image.DecompressionBombWarning)
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
    try:
        image = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
    except Image.DecompressionBombError:
        return [], [], "image_too_large"
    except Exception:
        return [], [], "broken"
    width, height = image.size
    if width < 1 or height < 1:
        return [], [], "broken"
    if width * height > limits.max_image_pixels:  # from the header, before any decoding
        return [], [], "image_too_large"

    def render():
        img = image
        if img.format == "JPEG":
            # Decode at a reduced scale straight away when the photo is far bigger than a page.
            target = int(limits.max_page_pixels**0.5)
            img.draft("RGB", (target, target))
        img.load()
        img = ImageOps.exif_transpose(img) or img
        img = img.convert("RGB")
        if img.width * img.height > limits.max_page_pixels:
            f = (limits.max_page_pixels / (img.width * img.height)) ** 0.5 * 0.999
            size = (max(1, int(img.width * f)), max(1, int(img.height * f)))
            img = img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
        return img

    return [render], [], None


if __name__ == "__main__":
    raise SystemExit(_child_main(sys.argv[1] if len(sys.argv) > 1 else ""))
