"""Time of a full passport-chip read, split by step, over pcscd+vpcd and in-process.

A virtual eMRTD with a passport-sized JPEG in DG2 (about 29 KB) sits in the vpcd reader of
a real pcscd; `EmrtdReader.read()` runs N times through pyscard (SELECT, BAC, EF.COM, DG1,
DG2, EF.SOD, hash and signature checks). The same reads then run with the card object called
directly (no PC/SC), as the baseline: the difference is the PC/SC stack's share. Both are
done with extended-length reads (4 KiB per READ BINARY) and with short ones (223 bytes).

    .venv/bin/python benchmarks/identity_emrtd_read.py [N]
"""

from __future__ import annotations

import io
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from demo_support.samples import sample_bytes
from devices.identity.emrtd.mrz import SPECIMEN_MRZ, MrzKey
from devices.identity.emrtd.pcscd import PcscdHost
from devices.identity.emrtd.reader import EXTENDED_CHUNK, SHORT_CHUNK, EmrtdReader
from devices.identity.emrtd.virtual_card import DirectConnection, VirtualEmrtd
from devices.identity.emrtd.vpcd import VpcdCardLink

STEPS = ("select", "bac", "EF.COM", "DG1", "DG2", "EF.SOD", "sod", "total")


def photo(person: str = "obama") -> bytes:
    """A passport-sized portrait (JPEG, about 29 KB) as chips carry them."""
    with Image.open(io.BytesIO(sample_bytes(person))) as source:
        image = source.convert("RGB")
    image.thumbnail((360, 450))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def medians(reports: list[dict[str, Any]]) -> dict[str, float]:
    return {s: statistics.median(r["steps"][s] for r in reports) * 1000 for s in STEPS}


def run(n: int, reader: EmrtdReader, read) -> tuple[dict[str, float], int]:
    reports = []
    for _ in range(n):
        read(reader)
        reports.append(reader.last_read_report)
    return medians(reports), reports[-1]["apdus"]


def main(n: int) -> None:
    mrz = SPECIMEN_MRZ
    key = MrzKey.from_mrz(mrz)
    card = VirtualEmrtd(mrz, photo())
    dg2 = len(card.files[0x0102])
    print(f"eMRTD read, median of {n} runs, DG2 {dg2} bytes (times in ms)")
    results = {}
    with PcscdHost() as host, VpcdCardLink(card) as link:
        assert link.wait_inserted(10)
        for chunk in (EXTENDED_CHUNK, SHORT_CHUNK):
            reader = EmrtdReader(host.reader_name, mrz_key=key, chunk_size=chunk)
            reader.read(timeout_s=10)  # warm-up: pcscd notices the card
            results[("pcsc", chunk)] = run(n, reader, lambda r: r.read(timeout_s=10))
            results[("direct", chunk)] = run(
                n, reader, lambda r: r.read_connection(DirectConnection(card))
            )
    for chunk in (EXTENDED_CHUNK, SHORT_CHUNK):
        pcsc, apdus = results[("pcsc", chunk)]
        direct, _ = results[("direct", chunk)]
        print(f"\nREAD BINARY chunk {chunk} bytes, {apdus} APDUs per read")
        print(f"{'step':<8} {'pcscd+vpcd':>11} {'in-process':>11} {'ratio':>7}")
        for step in STEPS:
            ratio = pcsc[step] / direct[step] if direct[step] else float("nan")
            print(f"{step:<8} {pcsc[step]:>11.2f} {direct[step]:>11.2f} {ratio:>7.1f}")
        share = (pcsc["total"] - direct["total"]) / pcsc["total"]
        per_apdu = (pcsc["total"] - direct["total"]) / apdus
        print(f"PC/SC stack share of the read: {share:.0%} ({per_apdu:.3f} ms per APDU)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
