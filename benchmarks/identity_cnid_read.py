"""Time to read a resident ID card over the GA/T 467 serial link, against the wire's own minimum.

Each run places the card on the emulated reader (a pty) and times CnIdReader.read(): find
card, select card, read base information, decode and check. Twice: with answers paced at
115200 baud as a UART delivers them, and unpaced (the driver's and emulator's own cost).
The baseline is the bytes both ways at 10 bits a byte. A real card's radio time inside the
reader (typically a few hundred ms) is not modelled.

    .venv/bin/python benchmarks/identity_cnid_read.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.identity.cnid import CnIdReader
from devices.identity.cnid.card import check_digit
from devices.identity.cnid.emulator import CnIdReaderEmulator, EmulatedCard
from devices.identity.cnid.frames import Command, encode_command

BAUD = 115200


def card() -> EmulatedCard:
    first17 = "44030519870615413"
    return EmulatedCard.of(name="李华", number=first17 + check_digit(first17))


def wire_bytes(c: EmulatedCard) -> int:
    """Commands plus answers of one find/select/read, preamble to checksum."""
    commands = sum(
        len(encode_command(x)) for x in (Command.FIND_CARD, Command.SELECT_CARD, Command.READ_BASE)
    )
    answers = (7 + 3 + 4 + 1) + (7 + 3 + 8 + 1) + (7 + 3 + 4 + len(c.text) + len(c.wlt) + 1)
    return commands + answers


def time_reads(runs: int, baudrate: int | None) -> list[float]:
    c = card()
    with CnIdReaderEmulator(c, baudrate=baudrate) as emu, CnIdReader(emu.device) as reader:
        reader.read(2.0)  # opens the port and checks the SAM once, as at terminal start
        times = []
        for _ in range(runs):
            emu.place_card(c)
            start = time.perf_counter()
            reader.read(2.0)
            times.append(time.perf_counter() - start)
    return times


def main(runs: int) -> None:
    n = wire_bytes(card())
    command_bytes = 3 * len(encode_command(Command.FIND_CARD))
    wire_s = n * 10 / BAUD
    answers_s = (n - command_bytes) * 10 / BAUD
    paced = time_reads(runs, BAUD)
    bare = time_reads(runs, None)
    print(f"resident ID card read, {runs} runs (find, select, read base information)")
    print(f"  bytes on the wire          {n}: {wire_s * 1000:.1f} ms at {BAUD} baud (baseline)")
    print(f"  of which answers           {n - command_bytes}: {answers_s * 1000:.1f} ms"
          " (the emulator paces only these; commands cross the pty at once)")  # fmt: skip
    for label, t in (("paced at 115200 baud", paced), ("unpaced pty", bare)):
        med = statistics.median(t)
        p95 = sorted(t)[int(0.95 * (len(t) - 1))]
        print(
            f"  {label:26} median {med * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms,"
            f" ratio to wire time {med / wire_s:.2f}"
        )
    overhead = statistics.median(paced) - answers_s
    print(f"  driver + emulator cost over the paced answers: {overhead * 1000:+.1f} ms per read")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
