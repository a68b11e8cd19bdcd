"""USB-stick import: hostile and broken files are refused with a reason, good ones still import."""

from __future__ import annotations

import io
import os
import random
import stat
import struct
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image
from pypdf import PdfWriter

from terminal.materials import usb_import as u
from terminal.materials.usb_import import ImportLimits, ImportRefused
from terminal.ui.i18n import Translator

ZH, EN = Translator("zh", strict=True), Translator("en", strict=True)


def _photo(size=(900, 700)) -> Image.Image:
    img = Image.new("RGB", size, (250, 250, 245))
    for y in range(100, size[1] - 100, 40):  # dark "text" lines and a red "seal"
        img.paste((20, 20, 20), (80, y, size[0] - 80, y + 8))
    img.paste((200, 20, 20), (size[0] - 260, size[1] - 260, size[0] - 100, size[1] - 100))
    return img


def _pdf_bytes(pages: int = 2) -> bytes:
    buf = io.BytesIO()
    imgs = [_photo() for _ in range(pages)]
    imgs[0].save(buf, "PDF", resolution=100.0, save_all=True, append_images=imgs[1:])
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    _photo().save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    _photo().save(buf, "PNG")
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring 10 gigapixels; the data would inflate to ~30 GB."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * (width * 3)
    compressor = zlib.compressobj(9)
    idat = compressor.compress(row * 50) + compressor.flush()
    return u.PNG_MAGIC + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)


def _jpeg_huge_header() -> bytes:
    """A JPEG whose frame header claims 60000×60000 pixels."""
    data = bytearray(_jpeg_bytes())
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC2):
            struct.pack_into(">HH", data, i + 5, 60000, 60000)
            break
        i += 2 + length
    return bytes(data)


def _pdf_with_javascript() -> bytes:
    """A hand-written PDF whose OpenAction runs JavaScript and which declares a Launch action."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R /Names << /JavaScript 6 0 R >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 5 0 R"
        b" /AA << /O << /S /Launch /F (calc.exe) >> >> >>",
        b"<< /S /JavaScript /JS (app.alert('hello');) >>",
        b"<< /Length 44 >>\nstream\n0 0 1 rg 100 600 300 100 re f 0 g 1 w S\nendstream",
        b"<< /Names [(x) 4 0 R] >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_encrypted(user_password: str = "secret") -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(_pdf_bytes(1)))
    writer.encrypt(user_password, "owner", algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _pdf_with_attachment() -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(_pdf_bytes(1)))
    writer.add_attachment("payload.exe", b"MZ" + b"\x00" * 64)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _pdf_huge_page() -> bytes:
    """One page of 200 × 200 inches: at 150 dpi that would be 900 megapixels."""
    img = Image.new("RGB", (200, 200), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PDF", resolution=1.0)
    return buf.getvalue()


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    mount = tmp_path / "stick"
    mount.mkdir()
    (mount / "good.pdf").write_bytes(_pdf_bytes(2))
    (mount / "photo.jpg").write_bytes(_jpeg_bytes())
    (mount / "scan.png").write_bytes(_png_bytes())
    return mount


def _import(mount: Path, name: str, **limits) -> u.ImportedFile:
    return u.import_file(mount, name, ImportLimits(**limits))


def _refused(mount: Path, name: str, **limits) -> ImportRefused:
    with pytest.raises(ImportRefused) as info:
        _import(mount, name, **limits)
    refusal = info.value
    assert refusal.key == f"usb.reason.{refusal.code}"
    assert refusal.text(ZH) and refusal.text(ZH) != refusal.text(EN) == str(refusal)
    return refusal


# ---------------------------------------------------------------- good files


def test_a_pdf_becomes_clean_pages_with_thumbnails_and_a_fresh_pdf(stick: Path):
    imported = _import(stick, "good.pdf")

    assert imported.kind == u.FileKind.PDF and len(imported.pages) == 2
    for page in imported.pages:
        assert page.jpeg.startswith(u.JPEG_MAGIC)
        thumb = Image.open(io.BytesIO(page.thumbnail_png))
        assert thumb.format == "PNG" and max(thumb.size) <= 320
        # 9 × 7 inches at 100 dpi in the source, rendered at 150 dpi.
        assert (page.width, page.height) == (1350, 1050)
    pdf = pdfium.PdfDocument(imported.pdf())
    assert len(pdf) == 2
    assert [round(x) for x in pdf[0].get_size()] == [648, 504]  # 9 × 7 inches again


def test_photos_are_sniffed_by_content_not_by_name(stick: Path):
    (stick / "really-a-png.pdf").write_bytes(_png_bytes())
    (stick / "really-a-jpeg.txt").write_bytes(_jpeg_bytes())

    assert _import(stick, "really-a-png.pdf").kind == u.FileKind.PNG
    assert _import(stick, "really-a-jpeg.txt").kind == u.FileKind.JPEG
    photo = _import(stick, "photo.jpg")
    assert len(photo.pages) == 1 and (photo.pages[0].width, photo.pages[0].height) == (900, 700)


def test_a_file_can_be_imported_by_its_own_path(stick: Path):
    assert len(u.import_path(stick / "scan.png").pages) == 1


def test_the_listing_shows_importable_files_and_why_others_are_refused(stick: Path):
    (stick / "docs").mkdir()
    (stick / "docs" / "lease.pdf").write_bytes(_pdf_bytes(1))
    (stick / "notes.txt").write_text("not shown: neither named nor sniffed as a material")
    (stick / "fake.pdf").write_text("hello")
    (stick / ".hidden.pdf").write_bytes(_pdf_bytes(1))
    (stick / "link.pdf").symlink_to("/etc/passwd")
    (stick / "empty.png").write_bytes(b"")

    listed = {c.path: c for c in u.list_candidates(stick)}

    assert set(listed) == {
        "docs/lease.pdf",
        "empty.png",
        "fake.pdf",
        "good.pdf",
        "link.pdf",
        "photo.jpg",
        "scan.png",
    }
    lease = listed["docs/lease.pdf"]
    assert lease.kind == u.FileKind.PDF and lease.refusal is None
    assert listed["fake.pdf"].refusal.code == "unsupported_type"
    assert listed["link.pdf"].refusal.code == "not_regular_file"
    assert listed["empty.png"].refusal.code == "empty"


def test_names_that_are_no_utf8_or_not_printable_are_shown_readable_and_still_open(stick: Path):
    gbk = os.fsdecode("户口簿.pdf".encode("gbk"))  # a stick written on a PC set to GBK
    latin = os.fsdecode(b"caf\xe9-\xff.jpg")  # neither UTF-8 nor GB18030
    spoof = "invoice\u202efdp.exe"  # shows as "invoiceexe.pdf": a right-to-left override
    long = "report-" + "x" * 200 + ".png"
    for name, data in ((gbk, _pdf_bytes(1)), (latin, _jpeg_bytes()), (spoof, _pdf_bytes(1))):
        (stick / name).write_bytes(data)
    (stick / long).write_bytes(_png_bytes())

    listed = {c.path: c for c in u.list_candidates(stick)}

    shown = {path: u.shown_path(path) for path in listed}
    assert shown[gbk] == "户口簿.pdf"
    assert shown[latin] == "caf\ufffd-\ufffd.jpg"
    assert shown[spoof] == "invoice\ufffdfdp.exe"
    assert len(shown[long]) == u.SHOWN_MAX and shown[long].endswith("xxxxxxxxx.png")
    for text in shown.values():
        text.encode("utf-8")  # what the kiosk's text renderer does: a surrogate raised here
        assert text.isprintable()
    # The listing keeps the names as they are, and the files open by them.
    assert listed[gbk].kind == u.FileKind.PDF and listed[spoof].kind == u.FileKind.PDF
    assert len(_import(stick, gbk).pages) == 1
    assert len(_import(stick, latin).pages) == 1


def test_the_listing_is_bounded_on_a_stick_with_thousands_of_files(tmp_path: Path):
    mount = tmp_path / "full"
    deep = mount
    for level in range(10):
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "too-deep.pdf").write_bytes(b"%PDF-1.4")
    for n in range(300):
        (mount / f"f{n:03}.jpg").write_bytes(u.JPEG_MAGIC)

    listed = u.list_candidates(mount, ImportLimits(max_listed=50))

    assert len(listed) == 50
    assert not any("too-deep" in c.path for c in u.list_candidates(mount))


# ---------------------------------------------------------------- paths and special files


def test_symlinks_fifos_devices_and_escapes_are_refused_without_opening_them(
    stick: Path, tmp_path: Path
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pdf").write_bytes(_pdf_bytes(1))
    (stick / "passwd.pdf").symlink_to("/etc/passwd")
    (stick / "linked-dir").symlink_to(outside)
    os.mkfifo(stick / "fifo.pdf")  # opening it for reading would block without O_NONBLOCK

    assert _refused(stick, "passwd.pdf").code == "not_regular_file"
    assert _refused(stick, "linked-dir/secret.pdf").code == "not_regular_file"
    assert _refused(stick, "fifo.pdf").code == "not_regular_file"
    assert _refused(stick, "../outside/secret.pdf").code == "outside_stick"
    assert _refused(stick, "/etc/passwd").code == "outside_stick"
    assert _refused(stick, "docs").code in ("not_found", "not_regular_file")
    assert _refused(stick, "gone.pdf").code == "not_found"


def test_a_device_node_is_refused(stick: Path):
    try:
        os.mknod(stick / "null.pdf", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    assert _refused(stick, "null.pdf").code == "not_regular_file"


# ---------------------------------------------------------------- hostile and broken content


def test_an_encrypted_pdf_is_refused(stick: Path):
    (stick / "locked.pdf").write_bytes(_pdf_encrypted())
    (stick / "owner-only.pdf").write_bytes(_pdf_encrypted(user_password=""))

    assert _refused(stick, "locked.pdf").code == "encrypted"
    assert _refused(stick, "owner-only.pdf").code == "encrypted"


def test_a_pdf_with_embedded_files_is_refused(stick: Path):
    (stick / "attached.pdf").write_bytes(_pdf_with_attachment())
    assert _refused(stick, "attached.pdf").code == "embedded_files"


def test_javascript_and_actions_never_reach_the_rebuilt_pdf(stick: Path):
    source = _pdf_with_javascript()
    (stick / "active.pdf").write_bytes(source)

    imported = _import(stick, "active.pdf")

    assert "javascript" in imported.removed
    rebuilt = imported.pdf()
    for marker in (b"/JavaScript", b"/JS", b"/Launch", b"/OpenAction", b"/AA", b"calc.exe"):
        assert marker in source
        assert marker not in rebuilt
    # The page content itself survived: the blue rectangle is in the rendered pixels.
    page = Image.open(io.BytesIO(imported.pages[0].jpeg)).convert("RGB")
    r, g, b = page.getpixel((int(page.width * 0.4), int(page.height * 0.23)))
    assert b > 200 and r < 60 and g < 60


def test_too_many_pages_and_too_many_bytes_are_refused(stick: Path):
    (stick / "long.pdf").write_bytes(_pdf_bytes(4))

    refusal = _refused(stick, "long.pdf", max_pages=3)
    assert refusal.code == "too_many_pages"
    assert "3" in refusal.text(EN) and "3" in refusal.text(ZH)
    assert _refused(stick, "long.pdf", max_file_bytes=1000).code == "too_large"


def test_decompression_bombs_are_refused_from_their_header(stick: Path):
    (stick / "bomb.png").write_bytes(_png_bomb())
    (stick / "bomb.jpg").write_bytes(_jpeg_huge_header())

    assert _refused(stick, "bomb.png").code == "image_too_large"
    assert _refused(stick, "bomb.jpg").code == "image_too_large"


def test_a_pdf_page_size_bomb_is_rendered_within_the_pixel_budget(stick: Path):
    (stick / "huge-page.pdf").write_bytes(_pdf_huge_page())

    imported = _import(stick, "huge-page.pdf", max_page_pixels=2_000_000)

    page = imported.pages[0]
    assert page.width * page.height <= 2_000_000
    assert page.width > 1000


def test_a_parser_that_hangs_is_stopped_at_the_deadline(stick: Path):
    assert _refused(stick, "good.pdf", timeout_s=0.0).code == "too_slow"


def test_a_parser_that_dies_is_a_refusal_not_a_crash(stick: Path):
    # 40 MiB of address space is not enough for the child even to start Python's imports.
    assert _refused(stick, "good.pdf", memory_bytes=40 * 1024 * 1024).code == "broken"


@pytest.mark.parametrize("kind", ["pdf", "jpeg", "png"])
def test_truncated_files_are_refused(stick: Path, kind: str):
    whole = {"pdf": _pdf_bytes(1), "jpeg": _jpeg_bytes(), "png": _png_bytes()}[kind]
    for n, cut in enumerate((8, len(whole) // 3, len(whole) // 2)):
        (stick / f"cut{n}.{kind}").write_bytes(whole[:cut])
        with pytest.raises(ImportRefused) as info:
            _import(stick, f"cut{n}.{kind}")
        assert info.value.code == "broken"


def test_random_bytes_behind_each_magic_never_crash_and_good_files_still_import(stick: Path):
    rng = random.Random(20261121)
    samples = {}
    for magic in (u.PDF_MAGIC, u.JPEG_MAGIC, u.PNG_MAGIC):
        for n in range(5):
            samples[f"rand-{magic[1:3].hex()}-{n}"] = magic + rng.randbytes(rng.randint(0, 20000))
    for name, good in (("pdf", _pdf_bytes(1)), ("jpeg", _jpeg_bytes()), ("png", _png_bytes())):
        for n in range(4):
            mutated = bytearray(good)
            for _ in range(rng.randint(1, 40)):
                mutated[rng.randrange(16, len(mutated))] = rng.randrange(256)
            samples[f"mut-{name}-{n}"] = bytes(mutated)
    for name, data in samples.items():
        (stick / name).write_bytes(data)

    outcomes = {}
    for name in samples:
        try:
            imported = _import(stick, name, timeout_s=20)
        except ImportRefused as refusal:
            outcomes[name] = refusal.code
        else:
            assert imported.pages and imported.pdf().startswith(b"%PDF-")
            outcomes[name] = "imported"

    assert set(outcomes.values()) <= {"broken", "imported", "image_too_large"}
    assert all(outcomes[n] == "broken" for n in samples if n.startswith("rand-"))
    for good in ("good.pdf", "photo.jpg", "scan.png"):
        assert _import(stick, good).pages


def test_an_empty_file_is_refused(stick: Path):
    (stick / "zero.pdf").write_bytes(b"")
    assert _refused(stick, "zero.pdf").code == "empty"


def test_a_renamed_file_of_another_type_is_refused(stick: Path):
    (stick / "virus.pdf").write_bytes(b"MZ\x90\x00" + bytes(200))
    assert _refused(stick, "virus.pdf").code == "unsupported_type"


def test_every_refusal_code_has_a_message_in_both_languages():
    for code in u.REASONS:
        refusal = ImportRefused(code, "x", limit=7)
        zh, en = refusal.text(ZH), refusal.text(EN)  # strict: a missing key raises
        assert zh and en, code
        assert "{" not in zh + en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), code
