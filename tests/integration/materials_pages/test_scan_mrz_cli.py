"""`allhours scan --mrz` as a technician runs it on photos of passport pages."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np

from devices.camera.document_scene import generated_sample
from devices.camera.passport_scene import passport_page
from devices.identity.emrtd.mrz import SPECIMEN_MRZ


def _scan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "allhours.cli", "scan", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _write(path, rgb: np.ndarray) -> str:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return str(path)


def test_the_mrz_is_read_with_the_number_masked_and_a_page_without_one_is_named(tmp_path):
    page = passport_page(SPECIMEN_MRZ)
    passport = _write(tmp_path / "passport.jpg", cv2.resize(page, None, fx=0.5, fy=0.5))
    form = _write(tmp_path / "form.jpg", generated_sample(5, "clean", paper="A4").frame)
    proc = _scan("--mrz", passport, form, "--json")
    assert proc.returncode == 1, proc.stderr
    rows = {r["file"]: r for r in json.loads(proc.stdout)["mrz"]}
    assert rows[passport]["ok"] and rows[passport]["all_check_digits"]
    assert rows[passport]["document_number"] == "L8****2C"
    assert rows[form]["ok"] is False and rows[form]["reason"] == "no_mrz"
    for secret in ("L898902C", "740812", "ERIKSSON"):
        assert secret not in proc.stdout + proc.stderr
    alone = _scan("--mrz", passport)
    assert alone.returncode == 0 and "every check digit holds" in alone.stdout


def test_pages_still_need_an_output_file_without_mrz(tmp_path):
    proc = _scan(str(tmp_path / "x.jpg"))
    assert proc.returncode == 2 and "-o OUT.pdf is required" in proc.stderr
