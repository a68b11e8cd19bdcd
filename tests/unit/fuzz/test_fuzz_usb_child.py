"""A USB import's sandboxed child turned hostile: whatever it writes back, the terminal imports
within its limits or refuses with a reason.

The child parses the stick's file with PDFium or Pillow (`terminal/materials/usb_import.py`). A
file that exploits either owns the child, which may then write anything to its pipe: the limits
on the child do not bound what the terminal makes of its answer. The terminal reads that pipe
with `_collect` through `_FrameReader`, the code under test here. A thread writes what such a
child could write into a real pipe, in the child's framing (tag, length, payload) or out of it,
and closes the pipe as a dying child would.
"""

from __future__ import annotations

import io
import json
import os
import struct
import threading
import time

from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from terminal.materials import usb_import as u
from terminal.materials.usb_import import ImportLimits, ImportRefused

LIMITS = ImportLimits(max_pages=3, max_page_pixels=48 * 48, timeout_s=10.0)
DEEP = b"[" * 3000 + b"]" * 3000  # 6,000 bytes: over the 4,096 a JSON frame may have
DEEP_FITS = b'{"pages": ' + b"[" * 2000 + b"]" * 2000 + b"}"


def frame(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">4sI", tag, len(payload)) + payload


_texts = st.text(max_size=12)
_json_values = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | _texts
_info = st.fixed_dictionaries(
    {},
    optional={
        "pages": st.integers(-1, LIMITS.max_pages + 2) | _json_values,
        "removed": st.lists(_texts, max_size=3) | _json_values,
    },
).map(lambda d: json.dumps(d).encode())
_fail = st.fixed_dictionaries(
    {},
    optional={"code": st.sampled_from(sorted(u.REASONS)) | _texts, "limit": _json_values},
).map(lambda d: json.dumps(d).encode())


@st.composite
def _page(draw) -> bytes:
    """A page header and pixels: a size within or past the limits, pixels short, exact or over."""
    width = draw(st.integers(0, 64) | st.sampled_from([2**31, 2**32 - 1]))
    height = draw(st.integers(0, 64) | st.sampled_from([2**31, 2**32 - 1]))
    exact = width * height * 3 if width * height <= LIMITS.max_page_pixels else 0
    pixels = max(0, exact + draw(st.integers(-3, 3)))
    fill = draw(st.integers(0, 255))
    return struct.pack(">II", width, height) + bytes([fill]) * pixels


_payloads = {
    b"INFO": _info | st.binary(max_size=40) | st.just(DEEP_FITS),
    b"PAGE": _page() | st.binary(max_size=40),
    b"FAIL": _fail | st.binary(max_size=40) | st.just(DEEP_FITS),
    b"DONE": st.just(b"") | st.binary(max_size=8),
}
_frames = st.one_of(
    *[st.builds(frame, st.just(tag), payloads) for tag, payloads in _payloads.items()],
    st.builds(frame, st.binary(min_size=4, max_size=4), st.binary(max_size=16)),
    # A header that promises more than follows, or more than any frame may hold.
    st.builds(
        struct.pack, st.just(">4sI"), st.sampled_from(list(_payloads)), st.integers(0, 2**32 - 1)
    ),
)


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        pass  # the terminal stopped reading: it refused
    finally:
        os.close(fd)


def _collect(data: bytes) -> u.ImportedFile:
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=_write_all, args=(write_end, data))
    writer.start()
    try:
        reader = u._FrameReader(read_end, time.monotonic() + LIMITS.timeout_s, "scan.pdf")
        return u._collect(reader, "scan.pdf", u.FileKind.PDF, 1000, LIMITS)
    finally:
        os.close(read_end)
        writer.join(10)


@given(frames=st.lists(_frames, max_size=6), tail=st.binary(max_size=8))
@example(frames=[frame(b"INFO", DEEP_FITS)], tail=b"")
@example(frames=[frame(b"FAIL", DEEP_FITS)], tail=b"")
@example(frames=[frame(b"INFO", b'{"pages": 1}'), frame(b"FAIL", DEEP_FITS)], tail=b"")
@example(frames=[frame(b"INFO", DEEP)], tail=b"")
def test_whatever_the_child_writes_the_terminal_imports_within_its_limits_or_refuses(frames, tail):
    try:
        imported = _collect(b"".join(frames) + tail)
    except ImportRefused as refusal:
        assert refusal.code in u.REASONS  # worded for the citizen in both languages
    else:
        assert 1 <= len(imported.pages) <= LIMITS.max_pages
        for page in imported.pages:
            assert 0 < page.width * page.height <= LIMITS.max_page_pixels
            assert Image.open(io.BytesIO(page.jpeg)).size == (page.width, page.height)


def test_a_well_behaved_child_is_imported():
    # The property above reaches both ends: this is the answer of a child that rendered a page.
    pixels = bytes(range(256)) * (48 * 48 * 3 // 256)
    data = frame(b"INFO", b'{"pages": 1, "removed": ["/JS"]}')
    data += frame(b"PAGE", struct.pack(">II", 48, 48) + pixels) + frame(b"DONE", b"")

    imported = _collect(data)

    assert [(p.width, p.height) for p in imported.pages] == [(48, 48)]
    assert imported.removed == ("/JS",)
