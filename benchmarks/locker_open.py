"""From "code accepted" to "door confirmed open", through each lock driver and its emulator.

For each board type the clock starts when the locker would call `unlock()` and stops at
the first evidence that the door is open:

- RS-485 lock board: the first `read_doors()` (one read-all frame) that shows the door
  open. The time splits into the board's own pulse, the bytes at the baud rate, the
  emulated firmware's processing, the driver's CPU time in the calling thread (our code,
  pyserial, syscalls), and what is left (thread hand-offs through the pty). The baseline
  is what the wire and the board impose: pulse + every byte at the baud rate.
- USB HID relay board: relay boards have no door sensor, so "confirmed" means the
  GET_REPORT read-back shows the relay energised (the PhysicalDoor is then checked open).
  The whole unlock also holds the relay for the pulse and reads back its release. The
  emulator is an in-process pyusb backend, so there is no bus time here; a real
  low-speed board adds a few 1-ms USB frames per control transfer.

    .venv/bin/python benchmarks/locker_open.py [RUNS] [--pulse-ms 200] [--board-pulse-ms 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.lock.door import PhysicalDoor
from devices.lock.rs485_board import Rs485LockBoard
from devices.lock.rs485_emulator import Rs485BoardEmulator
from devices.lock.usb_relay import UsbRelayBoard
from devices.lock.usb_relay_emulator import EmulatedRelayBoard, UsbRelayBackend


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:9.3f} ms"


def _line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<42}{value}{'   ' + note if note else ''}")


def rs485(runs: int, board_pulse_s: float, baudrate: int = 9600) -> None:
    doors = [PhysicalDoor(close_after_s=None) for _ in range(24)]
    rows: dict[str, list[float]] = {k: [] for k in ("total", "driver", "emu", "wire", "pulse")}
    polls: list[int] = []
    with Rs485BoardEmulator({1: doors}, baudrate=baudrate, pulse_s=board_pulse_s) as emu:
        board = Rs485LockBoard(emu.port_path, 1, baudrate=baudrate)
        try:
            board.read_doors()  # open the port outside the timed part
            for i in range(runs):
                channel = 1 + i % 24
                doors[channel - 1].close()
                before = (emu.processing_s, emu.wire_s, emu.pulse_wait_s)
                cpu0, t0 = time.thread_time(), time.perf_counter()
                board.unlock(channel, 500)
                reads = 1
                while not board.read_doors()[channel]:
                    reads += 1
                t1, cpu1 = time.perf_counter(), time.thread_time()
                rows["total"].append(t1 - t0)
                rows["driver"].append(cpu1 - cpu0)
                rows["emu"].append(emu.processing_s - before[0])
                rows["wire"].append(emu.wire_s - before[1])
                rows["pulse"].append(emu.pulse_wait_s - before[2])
                polls.append(reads)
        finally:
            board.close()
    frame_bytes = (5 + 5) + (5 + 7)  # open + answer, read-all + answer (24 locks)
    baseline = board_pulse_s + frame_bytes * 10 / baudrate
    total = statistics.median(rows["total"])
    other = [
        t - d - e - w - p
        for t, d, e, w, p in zip(
            rows["total"], rows["driver"], rows["emu"], rows["wire"], rows["pulse"], strict=True
        )
    ]
    print(f"RS-485 lock board (pty emulator, {baudrate} baud, board pulse {board_pulse_s:.3f} s)")
    _line("code accepted -> door confirmed open", _ms(rows["total"]), f"median of {runs}")
    _line("  board pulse", _ms(rows["pulse"]))
    _line(f"  bytes at {baudrate} baud", _ms(rows["wire"]))
    _line("  emulated firmware processing", _ms(rows["emu"]))
    share = statistics.median(rows["driver"]) / total
    _line("  driver CPU (ours + pyserial)", _ms(rows["driver"]), f"{share:.1%} of total")
    _line("  pty hand-offs and scheduling", _ms(other))
    _line("read_doors polls until open", f"{statistics.median(polls):9.0f}")
    _line(
        "baseline (pulse + bytes at baud)",
        f"{baseline * 1000:9.3f} ms",
        f"ratio {total / baseline:.3f}",
    )


def usb_relay(runs: int, pulse_s: float) -> None:
    doors = [PhysicalDoor(close_after_s=None) for _ in range(8)]
    emulated = EmulatedRelayBoard("BENCH", doors)
    marks: dict[str, float] = {}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        # The driver sleeps right after the ON read-back confirmed the relay.
        marks["confirmed"] = time.perf_counter()
        marks["emu_at_confirm"] = emulated.processing_s
        started = time.perf_counter()
        time.sleep(seconds)
        slept.append(time.perf_counter() - started)

    relay = UsbRelayBoard("BENCH", backend=UsbRelayBackend([emulated]), sleep=sleep)
    relay.relay_states()  # find and open the board outside the timed part
    rows: dict[str, list[float]] = {k: [] for k in ("confirm", "c_emu", "cycle", "cy_emu", "hold")}
    transfers: list[int] = []
    for i in range(runs):
        channel = 1 + i % 8
        doors[channel - 1].close()
        emu0, sent0 = emulated.processing_s, len(emulated.transfers)
        t0 = time.perf_counter()
        relay.unlock(channel, int(pulse_s * 1000))
        t1 = time.perf_counter()
        if not doors[channel - 1].is_open:
            raise SystemExit(f"relay {channel} confirmed but its door did not open")
        rows["confirm"].append(marks["confirmed"] - t0)
        rows["c_emu"].append(marks["emu_at_confirm"] - emu0)
        rows["cycle"].append(t1 - t0)
        rows["cy_emu"].append(emulated.processing_s - emu0)
        rows["hold"].append(slept[-1])
        transfers.append(len(emulated.transfers) - sent0)
    confirm_driver = [c - e for c, e in zip(rows["confirm"], rows["c_emu"], strict=True)]
    cycle_driver = [
        c - e - h for c, e, h in zip(rows["cycle"], rows["cy_emu"], rows["hold"], strict=True)
    ]
    print(f"USB HID relay board (in-process pyusb backend, pulse {pulse_s:.3f} s)")
    print("  relay boards have no door sensor: confirmed = relay read-back shows it energised")
    _line("code accepted -> relay confirmed on", _ms(rows["confirm"]), f"median of {runs}")
    _line("  emulated firmware processing", _ms(rows["c_emu"]))
    share = statistics.median(confirm_driver) / statistics.median(rows["confirm"])
    _line("  driver (ours + pyusb)", _ms(confirm_driver), f"{share:.0%} of it")
    _line("whole unlock (ON, hold, OFF, read-backs)", _ms(rows["cycle"]))
    _line("  relay held for the pulse", _ms(rows["hold"]))
    _line("  emulated firmware processing", _ms(rows["cy_emu"]))
    _line("  driver (ours + pyusb)", _ms(cycle_driver))
    ratio = statistics.median(rows["cycle"]) / pulse_s
    _line("baseline (the pulse itself)", f"{pulse_s * 1000:9.3f} ms", f"ratio {ratio:.4f}")
    _line("control transfers per unlock", f"{statistics.median(transfers):9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", type=int, default=25)
    parser.add_argument("--pulse-ms", type=int, default=200, help="relay pulse length")
    parser.add_argument("--board-pulse-ms", type=int, default=100, help="RS-485 board's pulse")
    args = parser.parse_args()
    rs485(args.runs, args.board_pulse_ms / 1000)
    print()
    usb_relay(args.runs, args.pulse_ms / 1000)


if __name__ == "__main__":
    main()
