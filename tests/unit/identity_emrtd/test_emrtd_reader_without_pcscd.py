"""Without a PC/SC service the reader reports a reader fault, for staff, not a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json
from devices.identity.emrtd.mrz import MrzKey
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.errors import ReaderFault
from terminal.coded import english
from terminal.flows.identity import card_error_key
reader = EmrtdReader(mrz_key=MrzKey("L898902C", "740812", "320415"))
try:
    reader.read(timeout_s=0.2)
except ReaderFault as exc:
    print(json.dumps({"error": str(exc), "citizen": english(card_error_key(exc)),
                      "diagnostics": reader.diagnostics()}))
"""


def test_no_pcscd_is_a_reader_fault_with_diagnostics(tmp_path: Path):
    # libpcsclite looks for pcscd at PCSCLITE_CSOCK_NAME: point it where nothing listens.
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(tmp_path / "no-pcscd.comm"))
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=root, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "pcscd" in result["error"] and "not reachable" in result["error"]
    assert "staff-assisted" in result["citizen"]
    assert result["diagnostics"]["pcsc"].startswith("PC/SC service (pcscd) not reachable")
    assert result["diagnostics"]["last_error"].startswith("ReaderFault")
