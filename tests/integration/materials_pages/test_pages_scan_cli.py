"""`allhours scan` as a technician runs it: real files in, verdicts out, a PDF of the good pages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pikepdf
import pytest

from devices.camera.document_scene import generated_sample

CAPTURE = (2048, 1536)
SCALE = str(3264 / CAPTURE[0])


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scan")
    out = {}
    for name, defect, seed in (
        ("good", "clean", 21),
        ("shaky", "blurred", 22),
        ("shine", "glare", 23),
    ):
        frame = generated_sample(seed, defect, size=CAPTURE).frame
        path = folder / f"{name}.jpg"
        cv2.imwrite(
            str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
        out[name] = path
    broken = folder / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, nothing after
    out["broken"] = broken
    return out


def _scan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "allhours.cli", "scan", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_verdicts_per_page_and_a_pdf_of_only_the_accepted_ones(images, tmp_path):
    out = tmp_path / "material.pdf"
    proc = _scan(
        str(images["good"]),
        str(images["shaky"]),
        str(images["shine"]),
        str(images["broken"]),
        "-o",
        str(out),
        "--capture-scale",
        SCALE,
        "--json",
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    verdicts = {Path(p["file"]).stem: p for p in report["pages"]}
    assert verdicts["good"]["ok"] and verdicts["good"]["dpi"] >= 150
    assert verdicts["good"]["format"] in ("A4", "letter", "ID-1")
    assert verdicts["shaky"]["reasons"] == ["blurred"]
    assert verdicts["shine"]["reasons"] == ["glare"]
    assert verdicts["broken"]["reasons"] == ["unreadable"]
    with pikepdf.open(io.BytesIO(out.read_bytes())) as pdf:
        assert len(pdf.pages) == 1 == report["pdf"]["pages"]


def test_all_good_exits_zero_and_speaks_the_citizens_words(images, tmp_path):
    out = tmp_path / "ok.pdf"
    proc = _scan(str(images["good"]), "-o", str(out), "--capture-scale", SCALE)
    assert proc.returncode == 0, proc.stderr
    assert "ok (format" in proc.stdout and out.stat().st_size > 10_000
    proc = _scan(
        str(images["shaky"]),
        "-o",
        str(tmp_path / "none.pdf"),
        "--capture-scale",
        SCALE,
        "--lang",
        "zh",
    )
    assert proc.returncode == 1 and "文字模糊" in proc.stdout
    assert not (tmp_path / "none.pdf").exists()


def test_bad_arguments_exit_two(images, tmp_path):
    proc = _scan(str(images["good"]), "-o", str(tmp_path / "x.pdf"), "--dpi", "0")
    assert proc.returncode == 2
