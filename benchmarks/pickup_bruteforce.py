"""Pickup-code brute force over 30 days against the real keypad limits, per policy setting.

A terminal with nine compartments (`default_layout`), each holding a result whose code is
valid for the whole 30 days, on an in-memory journal and an emulated lock board, with a
simulated clock. An attacker types codes through `LockerBank.pickup`, exactly as the kiosk
does, and waits only as long as the keypad makes him (TooManyAttempts says how long). Staff
answer every alarm that locks a code by re-sending a new one an hour later (the worst case:
each re-send gives a targeted attacker one more guess). No code is ever right by luck here:
the figures are the attempts the limits let through, from which

    P(a given compartment opens) = checked attempts / (10^digits x 10^4 phone tails)
    P, attacker who knows the applicant's phone = attempts aimed at it / 10^digits

(an attacker never repeats a guess, so each one removes one candidate; without the phone tail
factor the 10^4 drops out). Strategies:
  rush       tries whenever the keypad lets him;
  patient    four tries, then waits out the idle reset, so no streak reaches the alarm;
  targeted   knows the applicant's phone number: every guess carries the right tail.
The baseline in the same run is the policy of before ADR 0011 (streak only: 3 free tries,
30 s doubling to 900 s, an alarm at the 5th, an hour idle resets it, no phone tail).

    .venv/bin/python benchmarks/pickup_bruteforce.py [DAYS]
"""

from __future__ import annotations

import hmac
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.lock.emulated import EmulatedLockBoard
from locker.attempts import AttemptPolicy
from locker.bank import LockerAlarm, LockerBank
from locker.errors import CodeLocked, TooManyAttempts, WrongCode
from locker.journal import LockerJournal
from locker.layout import default_layout

DAY = 86_400.0
HOUR = 3_600.0
KEY = secrets.token_bytes(32)
TARGET_TAIL = "8000"
RESEND_AFTER_S = HOUR
UNLIMITED = 10**9
BEFORE = AttemptPolicy(
    terminal_budget=UNLIMITED, compartment_budget=UNLIMITED, compartment_hard_budget=UNLIMITED
)
ADR_0011 = AttemptPolicy()


def code_digest(code: str) -> str:
    return hmac.new(KEY, b"code|" + code.encode(), "sha256").hexdigest()


def tail_digest(load_id: str, tail: str) -> str:
    return hmac.new(KEY, f"tail|{load_id}|{tail}".encode(), "sha256").hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Run:
    setting: str
    strategy: str
    digits: int
    tails: bool
    attempts: int = 0  # checked by the keypad (not refused by a lockout)
    aimed: int = 0  # of those, aimed at the target compartment
    opened: int = 0  # a guess that opened something (expected 0)
    streak_alarms: int = 0
    terminal_alarms: int = 0
    compartment_alarms: int = 0
    resends: int = 0
    check_s: float = 0.0

    @property
    def p_target(self) -> float:
        """Chance that the target compartment opened within the run."""
        if self.strategy == "targeted" or not self.tails:
            return min(1.0, self.aimed / 10**self.digits)
        return min(1.0, self.attempts / (10**self.digits * 10**4))


def simulate(setting: str, policy: AttemptPolicy, strategy: str, tails: bool, days: float) -> Run:
    """One attacker against one terminal for ``days``; the real bank counts and refuses."""
    clock = Clock()
    alarms: list[LockerAlarm] = []
    journal = LockerJournal(":memory:")
    bank = LockerBank(
        default_layout(),
        journal,
        EmulatedLockBoard(9),
        code_digest=code_digest,
        tail_digest=tail_digest,
        clock=clock,
        on_alarm=alarms.append,
        policy=policy,
    )
    codes = {}
    for n, spec in enumerate(default_layout()):
        load = f"L-{n}"
        bank.reserve_for_result(load, f"APP-{n}", spec.size)
        bank.confirm_result_loaded(load)
        codes[load] = f"{secrets.randbelow(10**6):06d}"
        tail = tail_digest(load, TARGET_TAIL if n == 0 else f"{n:04d}") if tails else None
        bank.set_pickup_code(load, code_digest(codes[load]), clock() + days * DAY + DAY, tail)
    target = "A01"
    run = Run(setting, strategy, 6, tails)
    end = clock.now + days * DAY
    resends: list[float] = []  # when staff send the target a new code, answering its alarms
    seen_alarms = 0
    guess = 0
    while clock.now < end:
        for alarm in alarms[seen_alarms:]:
            if alarm.compartment_id == target and "re-send" in alarm.detail:
                resends.append(clock.now + RESEND_AFTER_S)
        seen_alarms = len(alarms)
        if resends and clock.now >= resends[0]:
            resends.pop(0)
            slot = next(c for c in bank.compartments() if c.id == target)
            fresh = f"{secrets.randbelow(10**6):06d}"
            bank.set_pickup_code("L-0", code_digest(fresh), end + DAY, slot.tail_digest)
            codes["L-0"] = fresh
            run.resends += 1
        code = f"{guess % 10**6:06d}"
        guess += 1
        if code in codes.values():
            continue  # the simulation never lets luck decide: P is computed from the counts
        tail = TARGET_TAIL if strategy == "targeted" else f"{secrets.randbelow(10**4):04d}"
        started = time.perf_counter()
        try:
            bank.pickup(code, tail if tails else None)
            run.opened += 1
        except TooManyAttempts as exc:
            clock.now += exc.retry_after_s
            guess -= 1
            continue
        except CodeLocked:
            clock.now += HOUR  # he comes back later and tries again
            guess -= 1
            continue
        except WrongCode:
            pass
        run.check_s += time.perf_counter() - started
        run.attempts += 1
        run.aimed += 1 if (not tails or tail == TARGET_TAIL) else 0
        if strategy == "patient" and bank.wrong_code_streak() == policy.alarm_after - 1:
            # One short of the streak's alarm: wait until the streak is forgotten.
            clock.now += (policy.idle_reset_s or HOUR) + 1
    for alarm in alarms:
        if alarm.compartment_id is not None:
            run.compartment_alarms += 1
        elif "in a row" in alarm.detail:
            run.streak_alarms += 1
        else:
            run.terminal_alarms += 1
    journal.close()
    return run


def main() -> None:
    days = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    runs: list[Run] = []
    for strategy in ("rush", "patient"):
        runs.append(simulate("before (streak only)", BEFORE, strategy, False, days))
    for strategy in ("rush", "patient"):
        runs.append(simulate("ADR 0011, code only", ADR_0011, strategy, False, days))
    for strategy in ("rush", "patient", "targeted"):
        runs.append(simulate("ADR 0011 + phone tail", ADR_0011, strategy, True, days))
    loose = AttemptPolicy(terminal_budget=50, compartment_budget=10, compartment_hard_budget=20)
    for strategy in ("rush", "targeted"):
        runs.append(simulate("budgets 50/day, 10/30 d + tail", loose, strategy, True, days))
    print(f"pickup brute force over {days:g} days, 9 compartments, 6-digit codes, target A01")
    head = (
        f"{'setting':32} {'strategy':9} {'tries':>6} {'/day':>6} {'aimed':>6} "
        f"{'alarms s/t/c':>13} {'resends':>7} {'P(6 digits)':>12} {'P(8 digits)':>12}"
    )
    print(head)
    for r in runs:
        eight = Run(r.setting, r.strategy, 8, r.tails, r.attempts, r.aimed).p_target
        alarms = f"{r.streak_alarms}/{r.terminal_alarms}/{r.compartment_alarms}"
        print(
            f"{r.setting:32} {r.strategy:9} {r.attempts:6d} {r.attempts / days:6.1f} "
            f"{r.aimed:6d} {alarms:>13} {r.resends:7d} {r.p_target:12.2e} {eight:12.2e}"
        )
        if r.opened:
            print(f"  !! {r.opened} guesses opened a compartment")
    before, after = runs[0], runs[4]
    per_before = before.check_s / max(1, before.attempts) * 1e6
    per_after = after.check_s / max(1, after.attempts) * 1e6
    print(
        f"cost of one checked attempt: {per_after:.0f} us with budgets and tails, "
        f"{per_before:.0f} us before (streak only); ratio {per_after / per_before:.2f}"
    )
    rush_ratio = before.p_target / max(runs[4].p_target, 1e-300)
    print(f"rush attacker, P before / P with ADR 0011 and the phone tail: {rush_ratio:.2e}")


if __name__ == "__main__":
    main()
