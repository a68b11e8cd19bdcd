"""`allhours terminal --headless`: a scripted training terminal built by the bootstrap from its
settings; a real terminal's settings are refused, since a script stands in for the citizen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from enrolled_terminal import enrolled

from cloud_bridge.contract import messages as m
from cloud_bridge.local_db import LocalDatabase

SCRIPT = """
[[step]]
do = "submit"
item = "HJ-0101"
phone = "13800138000"
document = { type = "cn_resident_id", name = "张三", number = "11010519491231002X" }
face = { distance = 0.38, liveness = true }
"""


def _run(tmp_path: Path, settings: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.toml"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLHOURS_")}
    return subprocess.run(
        [
            *(sys.executable, "-m", "allhours.cli", "terminal", "--headless"),
            *("--settings", str(settings), "--script", str(script)),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_a_script_runs_on_a_training_terminal_and_its_submission_is_queued(tmp_path):
    data_dir = enrolled(tmp_path)
    settings = tmp_path / "terminal.toml"
    settings.write_text(f'data_dir = "{data_dir}"\nemulate = true\n', encoding="utf-8")

    proc = _run(tmp_path, settings)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 of 1 steps ok" in proc.stdout
    db = LocalDatabase(data_dir / "terminal.sqlite")
    try:
        queued = [
            m.decode(p) for (p,) in db.read("SELECT payload FROM outbox WHERE kind = 'message'")
        ]
    finally:
        db.close()
    [submitted] = [e for e in queued if isinstance(e, m.ApplicationSubmitted)]
    assert submitted.item_code == "HJ-0101" and submitted.terminal_id == "T0001"


def test_a_script_on_real_device_settings_is_refused_naming_the_key(tmp_path):
    settings = tmp_path / "terminal.toml"
    settings.write_text(
        f'data_dir = "{enrolled(tmp_path)}"\ndevices = "devices.toml"\n', encoding="utf-8"
    )
    proc = _run(tmp_path, settings)
    assert proc.returncode == 2
    assert f"{settings}: emulate:" in proc.stderr and "emulate = true" in proc.stderr
