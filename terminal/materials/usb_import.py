"""Defensive import of PDF, JPEG and PNG files from a citizen's USB stick.

Nothing from the stick is trusted or passed on as it is. The terminal:

- opens files only inside the mount, one path component at a time with O_NOFOLLOW, and only
  regular files (no symlink, FIFO, device or socket), never blocking on the open;
- sniffs the type from the magic bytes, not the name;
- parses and renders in a child process with hard limits (address space, CPU, no file
  writes, no core) and a wall-clock deadline, so a file that crashes or hangs the parser
  (PDFium, Pillow) costs that child only;
- gets back raw RGB pixels of each page in a fixed, bounded frame format, and builds the
  material from those pixels alone (JPEG pages, a fresh PDF via img2pdf). No byte of the
  original file reaches the backend: JavaScript, actions, forms logic and metadata are gone.

Every refusal is an `ImportRefused` with a stable code and a message for the citizen in
Chinese and English.
"""

from __future__ import annotations

import io
import json
import os
import selectors
import stat
import struct
import subprocess
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from terminal.coded import CitizenError

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
    cmd = [sys.executable, "-s", "-m", "terminal.materials.usb_import", kind.value]
    env = {"PATH": os.defpath, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env["ALLHOURS_USB_LIMITS"] = json.dumps(asdict(limits))
    proc = subprocess.Popen(
        cmd, stdin=fd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd="/"
    )
    assert proc.stdout is not None
    reader = _FrameReader(proc.stdout.fileno(), time.monotonic() + limits.timeout_s, name)
    try:
        return _collect(reader, name, kind, size, limits)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


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
    """Runs in the sandbox child: limits first, then read stdin, parse, render, stream pages."""
    import resource

    limits = ImportLimits(**json.loads(os.environ["ALLHOURS_USB_LIMITS"]))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
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
    send(b"INFO", json.dumps({"pages": len(pages), "removed": removed}).encode())
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
