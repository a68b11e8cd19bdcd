"""What end-to-end signatures cost per message, against what handling the message costs anyway.

Downstream: the backend signs a receipt (Ed25519) and the terminal verifies it; upstream: the
terminal signs a submission (its P-256 certificate key) and the backend verifies it. Baseline in
the same run: decoding and validating the same message with the contract's own decoder, which
every receiver does for every message (the backend's ingest then adds its database work).

    .venv/bin/python benchmarks/signing_cost.py [N]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples
from cloud_bridge.contract.signing import (
    BackendKeys,
    BackendSigner,
    TerminalSigner,
    verify_upstream,
)
from provisioning import pki


def _per_call_us(fn, n: int) -> float:
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    submitted = examples()["event.application_submitted"]
    up_topic, up_body = submitted.topic(), submitted.encode()
    receipt = examples()["receipt"]
    down_topic, down_body = receipt.topic(), receipt.encode()

    backend_key = ed25519.Ed25519PrivateKey.generate()
    public_hex = (
        backend_key.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )
    signer, keys = BackendSigner(backend_key), BackendKeys([public_hex])
    terminal_key = pki.new_key()
    terminal = TerminalSigner(terminal_key)
    down_sig = signer.sign(down_topic, 7, down_body)
    up_sig = terminal.sign(up_topic, up_body)

    f = {
        "decode a receipt (baseline)": lambda: m.decode_from(down_topic, down_body),
        "backend signs a receipt": lambda: signer.sign(down_topic, 7, down_body),
        "terminal verifies it": lambda: keys.verify(down_topic, 7, down_body, down_sig),
        "decode a submission (baseline)": lambda: m.decode_from(up_topic, up_body),
        "terminal signs a submission": lambda: terminal.sign(up_topic, up_body),
        "backend verifies it": lambda: verify_upstream(
            [terminal_key.public_key()], up_topic, up_body, up_sig
        ),
    }
    us = {what: _per_call_us(fn, n) for what, fn in f.items()}
    for what, value in us.items():
        print(f"{what:<34} {value:8.1f} µs")
    names = list(us)
    down = (us[names[1]] + us[names[2]]) / us[names[0]]
    up = (us[names[4]] + us[names[5]]) / us[names[3]]
    print(f"downstream sign+verify / decode: {down:.1f}")
    print(f"upstream sign+verify / decode:   {up:.1f}")


if __name__ == "__main__":
    main()
