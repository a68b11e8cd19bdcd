"""`allhours usb list|import` tells a technician what the kiosk makes of a stick."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from allhours.cli import main


def test_usb_list_and_import_print_verdicts_and_write_the_rebuilt_pdf(tmp_path: Path, capsys):
    stick = tmp_path / "stick"
    stick.mkdir()
    Image.new("RGB", (600, 800), "white").save(stick / "scan.png")
    (stick / "fake.pdf").write_text("not a pdf")
    (stick / "link.jpg").symlink_to("/etc/passwd")
    out = tmp_path / "out.pdf"

    assert main(["usb", "list", str(stick)]) == 0
    listed = capsys.readouterr().out
    assert "fake.pdf\t9\trefused: unsupported_type" in listed
    assert "link.jpg\t0\trefused: not_regular_file" in listed
    assert "scan.png\t" in listed and "\tpng" in listed

    assert main(["usb", "import", str(stick), "scan.png", "-o", str(out)]) == 0
    assert "1 page(s)" in capsys.readouterr().out
    assert len(pdfium.PdfDocument(out.read_bytes())) == 1

    assert main(["usb", "import", str(stick), "link.jpg", "--lang", "zh"]) == 1
    assert "refused: not_regular_file: 这不是普通文件" in capsys.readouterr().out
