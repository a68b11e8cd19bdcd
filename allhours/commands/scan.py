"""`allhours scan`: run the page pipeline on image files and write the accepted pages as a PDF;
with `--mrz`, read the MRZ of a passport photo page in each image instead."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from privacy import mask_document_number
from terminal.materials.pdf import material_content
from terminal.materials.pipeline import OUTPUT_DPI, PageResult, process_frame
from terminal.materials.quality import REASONS
from terminal.ui.i18n import Translator

MAX_FILE_BYTES = 64 * 1024 * 1024


def register(sub: argparse._SubParsersAction) -> None:
    """Add `allhours scan`."""
    p = sub.add_parser(
        "scan",
        help="find, judge and straighten the page in each image; write the good ones as one PDF",
        description="Prints a verdict per image (ok, or the reasons a citizen would be told), "
        "the paper format and the page's dpi. Accepted pages are written to OUT.pdf even "
        "when others are refused, so nothing good is lost; the exit status is 0 only if "
        "every image was accepted, 1 if any was refused or unreadable (no PDF at all when "
        "none was accepted), 2 on bad arguments.",
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("-o", "--output", type=Path, metavar="OUT.pdf")
    p.add_argument(
        "--mrz",
        action="store_true",
        help="read the MRZ of the passport photo page in each image (Tesseract) instead; "
        "prints the document number masked and whether every check digit held",
    )
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument(
        "--capture-scale",
        type=float,
        default=1.0,
        help="how much larger the camera's full capture is than these images (default 1)",
    )
    p.add_argument(
        "--px-per-mm",
        type=float,
        default=None,
        help="the camera's scale at the platen, to tell A4 from A5 (optional)",
    )
    p.add_argument("--dpi", type=float, default=OUTPUT_DPI, help="output resolution ceiling")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="wording of the reasons")
    p.set_defaults(func=cmd_scan)


def cmd_scan(args: argparse.Namespace) -> int:
    """Judge every image, write the PDF of the accepted ones, say what happened."""
    if args.mrz:
        return cmd_scan_mrz(args)
    if args.output is None:
        print("allhours scan: -o OUT.pdf is required (or --mrz)", file=sys.stderr)
        return 2
    if (
        args.capture_scale <= 0
        or args.dpi <= 0
        or (args.px_per_mm is not None and args.px_per_mm <= 0)
    ):
        print(
            "allhours scan: --capture-scale, --px-per-mm and --dpi must be positive",
            file=sys.stderr,
        )
        return 2
    rows: list[dict[str, Any]] = []
    accepted: list[PageResult] = []
    for index, path in enumerate(args.images, 1):
        frame, problem = _load(path)
        if frame is None:
            rows.append(
                {
                    "index": index,
                    "file": str(path),
                    "ok": False,
                    "reasons": ["unreadable"],
                    "detail": problem,
                }
            )
            continue
        result = process_frame(
            frame, capture_scale=args.capture_scale, px_per_mm=args.px_per_mm, output_dpi=args.dpi
        )
        rows.append(_row(index, path, result))
        if result.ok and result.page is not None:
            accepted.append(result)
    summary: dict[str, Any] = {"output": None, "pages": 0, "bytes": 0}
    if accepted:
        content = material_content(accepted)
        args.output.write_bytes(content.data)
        summary = {"output": str(args.output), "pages": content.pages, "bytes": len(content.data)}
    if args.json:
        print(json.dumps({"pages": rows, "pdf": summary}, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            print(_line(row, args.lang))
        if accepted:
            print(
                f"wrote {summary['output']}: {summary['pages']} page(s), {summary['bytes']} bytes"
            )
        else:
            print("no page was accepted; no PDF written")
    return 0 if all(r["ok"] for r in rows) else 1


def cmd_scan_mrz(args: argparse.Namespace) -> int:
    """Read the MRZ in every image; 0 only if each gave a key whose check digits hold."""
    from terminal.materials.mrz_ocr import MrzUnreadable, OcrUnavailable, read_mrz

    rows: list[dict[str, Any]] = []
    for index, path in enumerate(args.images, 1):
        row: dict[str, Any] = {"index": index, "file": str(path), "ok": False}
        frame, problem = _load(path)
        if frame is None:
            rows.append({**row, "reason": "unreadable", "detail": problem})
            continue
        try:
            reading = read_mrz(frame)
        except MrzUnreadable as exc:
            rows.append({**row, "reason": "no_mrz", "detail": str(exc)})
            continue
        except OcrUnavailable as exc:
            print(f"allhours scan: {exc}", file=sys.stderr)
            return 1
        rows.append(
            {
                **row,
                "ok": True,
                "document_number": mask_document_number(reading.key.document_number),
                "issuing_state": reading.data.issuing_state if reading.data else None,
                "all_check_digits": reading.complete,
                "upside_down": reading.upside_down,
                "ms": round(reading.seconds * 1000),
            }
        )
    if args.json:
        print(json.dumps({"mrz": rows}, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            head = f"image {row['index']} {row['file']}:"
            if row["ok"]:
                whole = (
                    "every check digit holds"
                    if row["all_check_digits"]
                    else ("number and dates hold, the rest does not")
                )
                print(
                    f"{head} MRZ read, document {row['document_number']}, {whole}"
                    f"{', lay upside down' if row['upside_down'] else ''} ({row['ms']} ms)"
                )
            else:
                print(f"{head} NO MRZ ({row['detail']}); the keypad is the way in")
    return 0 if all(r["ok"] for r in rows) else 1


def _load(path: Path) -> tuple[np.ndarray | None, str]:
    """The image as RGB, or None and a technician's explanation."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit"
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    buf = np.frombuffer(data, np.uint8)
    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    except cv2.error:
        bgr = None
    if bgr is None:
        return None, "not an image OpenCV can decode (JPEG, PNG, TIFF, BMP, WebP ...)"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ""


def _row(index: int, path: Path, result: PageResult) -> dict[str, Any]:
    return {
        "index": index,
        "file": str(path),
        "ok": result.ok,
        "reasons": list(result.reasons),
        "format": result.format.name if result.format else None,
        "dpi": round(result.dpi, 1) if result.dpi else None,
        "page_dpi": round(result.page_dpi, 1) if result.page_dpi else None,
        "page_size": list(result.page.shape[1::-1]) if result.page is not None else None,
        "corners": result.quad.corners.round(2).tolist() if result.quad else None,
        "turn": result.turn,  # degrees clockwise the page lay turned; the PDF page is upright
    }


def _line(row: dict[str, Any], lang: str) -> str:
    head = f"page {row['index']} {row['file']}:"
    if row["reasons"] == ["unreadable"]:
        return f"{head} UNREADABLE ({row['detail']})"
    facts = f"format {row.get('format') or '-'}, " + (
        f"{row['dpi']:.0f} dpi" if row.get("dpi") else "dpi unknown"
    )
    if row.get("turn"):
        facts += f", lay turned {row['turn']} degrees, kept upright"
    if row["ok"]:
        return f"{head} ok ({facts})"
    t = Translator(lang)
    words = "; ".join(t(REASONS[c].key) for c in row["reasons"] if c in REASONS)
    return f"{head} REFUSED {','.join(row['reasons'])} ({facts}) - {words}"
