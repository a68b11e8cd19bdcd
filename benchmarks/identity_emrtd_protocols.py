"""Full passport-chip read time with PACE and Chip Authentication, against BAC alone.

Each configuration of the virtual eMRTD (BAC; BAC + Chip Authentication; BAC + Active
Authentication with RSA and ECDSA; PACE on brainpoolP256r1 and on P-256, with and without
Chip Authentication) sits in the vpcd
reader of a real pcscd, and `EmrtdReader.read()` runs N times through pyscard. The baseline,
measured in the same run, is the BAC read of the same document. The virtual chip computes
its side of PACE and Chip Authentication in this process, so the figures include the chip's
work; a real chip's coprocessor is slower, often 100-300 ms for PACE.

    .venv/bin/python benchmarks/identity_emrtd_protocols.py [N]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.identity_emrtd_read import photo
from devices.identity.emrtd.mrz import SPECIMEN_MRZ, MrzKey
from devices.identity.emrtd.pcscd import PcscdHost
from devices.identity.emrtd.reader import EmrtdReader
from devices.identity.emrtd.virtual_card import VirtualEmrtd
from devices.identity.emrtd.vpcd import VpcdCardLink

CONFIGURATIONS = {
    "BAC": {},
    "BAC + CA": {"chip_authentication": "aes"},
    "BAC + AA (RSA)": {"active_authentication": "rsa"},
    "BAC + AA (ECDSA)": {"active_authentication": "ecdsa"},
    "PACE bp256": {"pace": "only"},
    "PACE bp256 + CA": {"pace": "only", "chip_authentication": "aes"},
    "PACE P-256 + CA": {"pace": "only", "pace_parameters": 12, "chip_authentication": "aes"},
}
STEPS = (
    "card_access",
    "pace",
    "bac",
    "chip_authentication",
    "active_authentication",
    "DG2",
    "total",
)


def measure(n: int, host: PcscdHost, card: VirtualEmrtd, key: MrzKey) -> tuple[dict, int]:
    """Median milliseconds per step over n reads, and the APDUs of one read."""
    reader = EmrtdReader(host.reader_name, mrz_key=key)
    with VpcdCardLink(card) as link:
        assert link.wait_inserted(10)
        reader.read(timeout_s=10)  # warm-up: pcscd notices the card
        reports = []
        for _ in range(n):
            reader.read(timeout_s=10)
            reports.append(reader.last_read_report)
    medians = {
        step: statistics.median(r["steps"].get(step, 0.0) for r in reports) * 1000 for step in STEPS
    }
    return medians, reports[-1]["apdus"]


def main(n: int) -> None:
    key = MrzKey.from_mrz(SPECIMEN_MRZ)
    image = photo()
    print(f"eMRTD full read over pcscd+vpcd, median of {n} runs, DG2 ~{len(image) // 1000} KB")
    print("(times in ms; ratio = total against BAC alone, measured in this run)")
    results = {}
    with PcscdHost() as host:
        measure(max(3, n // 4), host, VirtualEmrtd(SPECIMEN_MRZ, image), key)  # warm caches
        for name, options in CONFIGURATIONS.items():
            card = VirtualEmrtd(SPECIMEN_MRZ, image, **options)
            results[name] = measure(n, host, card, key)
    baseline = results["BAC"][0]["total"]
    header = f"{'configuration':<17}{'APDUs':>6}" + "".join(f"{s[:9]:>10}" for s in STEPS)
    print(header + f"{'ratio':>7}")
    for name, (medians, apdus) in results.items():
        cells = "".join(f"{medians[s]:>10.2f}" for s in STEPS)
        print(f"{name:<17}{apdus:>6}{cells}{medians['total'] / baseline:>7.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
