"""USB-stick import: seconds per file through the sandboxed child, against the same rendering
done in-process (what the sandbox costs), and bytes per A4 page of the rebuilt PDF.

    .venv/bin/python benchmarks/usb_import.py [RUNS]
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from terminal.materials.usb_import import ImportLimits, import_file, pages_to_pdf


def _a4_page(n: int) -> Image.Image:
    page = Image.new("RGB", (1240, 1754), "white")  # A4 at 150 dpi
    draw = ImageDraw.Draw(page)
    for line in range(60):
        draw.text(
            (100, 120 + line * 25), f"Page {n} line {line}: 申请人 materials text " * 2, "black"
        )
    draw.ellipse((900, 1450, 1150, 1700), outline=(200, 20, 20), width=8)
    return page


def _files(root: Path) -> dict[str, Path]:
    pages = [_a4_page(n) for n in range(20)]
    pdf = root / "twenty-pages.pdf"
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", resolution=150.0, save_all=True, append_images=pages[1:])
    pdf.write_bytes(buf.getvalue())
    photo = root / "photo-12mp.jpg"
    _a4_page(0).resize((3000, 4000)).save(photo, "JPEG", quality=90)
    png = root / "scan.png"
    _a4_page(1).save(png, "PNG")
    return {"pdf 20 pages": pdf, "jpeg 12 MP": photo, "png A4": png}


def _in_process(path: Path, limits: ImportLimits) -> int:
    """The same decode/render and JPEG encoding, without the child process or its checks."""
    import pypdfium2 as pdfium

    data = path.read_bytes()
    images = []
    if data.startswith(b"%PDF-"):
        pdf = pdfium.PdfDocument(data)
        for page in pdf:
            images.append(page.render(scale=limits.render_dpi / 72).to_pil().convert("RGB"))
    else:
        img = Image.open(io.BytesIO(data))
        img.draft("RGB", (2236, 2236))
        images.append(img.convert("RGB"))
    for image in images:
        image.save(io.BytesIO(), "JPEG", quality=limits.jpeg_quality)
    return len(images)


def main(runs: int) -> None:
    limits = ImportLimits()
    with tempfile.TemporaryDirectory() as tmp:
        files = _files(Path(tmp))
        print(f"{'file':14} {'sandboxed':>10} {'in-process':>11} {'ratio':>6}  pages  bytes/page")
        for name, path in files.items():
            sandboxed, direct = [], []
            imported = None
            for _ in range(runs):
                t = time.perf_counter()
                imported = import_file(path.parent, path.name, limits)
                sandboxed.append(time.perf_counter() - t)
                t = time.perf_counter()
                _in_process(path, limits)
                direct.append(time.perf_counter() - t)
            assert imported is not None
            pdf = pages_to_pdf(imported.pages)
            s, d = statistics.median(sandboxed), statistics.median(direct)
            print(
                f"{name:14} {s:9.3f}s {d:10.3f}s {s / d:6.2f}  {len(imported.pages):5}"
                f"  {len(pdf) // len(imported.pages):10,}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
