"""Wrong-attempt limits: the keypad's streak (free tries, doubling delay, an alarm per streak)
and the budgets no opening resets (per terminal, per compartment; ADR 0011)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AttemptPolicy:
    """How many wrong codes a keypad may take before delays and an alarm.

    Counted per keypad, not per compartment: a brute-forcer tries random codes across
    every compartment. After ``free_attempts`` consecutive wrong codes each further one
    imposes a delay of base, 2*base, 4*base ... capped at ``max_delay_s``. The
    ``alarm_after``-th consecutive wrong code raises one alarm. A streak with no wrong code
    for ``idle_reset_s`` starts over, so one citizen's typo is not charged to the next
    person a week later; None keeps streaks until a correct code.

    The budgets bound what a patient attacker gets however he paces himself (ADR 0011):
    ``terminal_budget`` wrong attempts in any ``terminal_window_s`` lock the keypad until the
    oldest leaves the window; ``compartment_budget`` wrong attempts addressed to one
    compartment (its phone tail typed, or its code with a wrong tail or holder) in any
    ``compartment_window_s`` lock its code until a new one is set, and from
    ``compartment_hard_budget`` on not even a new code opens it until the window frees (staff
    hand the result over). Neither a correct code, an opening nor a quiet spell gives any of
    them back.
    """

    free_attempts: int = 3
    base_delay_s: float = 30.0
    max_delay_s: float = 900.0
    alarm_after: int = 5
    idle_reset_s: float | None = 3600.0
    terminal_budget: int = 20
    terminal_window_s: float = 86_400.0
    compartment_budget: int = 5
    compartment_hard_budget: int = 8
    compartment_window_s: float = 30 * 86_400.0

    def __post_init__(self) -> None:
        if self.free_attempts < 0:
            raise ValueError("free_attempts must be >= 0")
        if self.base_delay_s <= 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError("need 0 < base_delay_s <= max_delay_s")
        if self.alarm_after < 1:
            raise ValueError("alarm_after must be >= 1")
        # A reset shorter than a lockout would let a brute-forcer skip the delays.
        if self.idle_reset_s is not None and self.idle_reset_s <= self.max_delay_s:
            raise ValueError("idle_reset_s must be longer than max_delay_s")
        # A citizen who mistypes twice must still get in with the third try.
        if self.terminal_budget < 3 or self.compartment_budget < 3:
            raise ValueError("terminal_budget and compartment_budget must be >= 3")
        if self.compartment_hard_budget < self.compartment_budget:
            raise ValueError("compartment_hard_budget must be >= compartment_budget")
        if self.terminal_window_s <= 0 or self.compartment_window_s <= 0:
            raise ValueError("the budget windows must be > 0")

    def delay_after(self, streak: int) -> float:
        """The lockout imposed after the ``streak``-th consecutive wrong code."""
        extra = streak - self.free_attempts
        if extra <= 0:
            return 0.0
        # Capping the exponent keeps float maths finite however long the streak runs.
        return min(self.base_delay_s * 2 ** min(extra - 1, 64), self.max_delay_s)


@dataclass
class AttemptStreak:
    """The keypad's current run of wrong codes; journalled so a restart does not reset it."""

    count: int = 0
    lockout_until: float = 0.0
    last_wrong_at: float | None = None

    def remaining(self, policy: AttemptPolicy, now: float) -> float:
        """Seconds left in the lockout; capped so a clock stepping back cannot stretch it."""
        return max(0.0, min(self.lockout_until - now, policy.max_delay_s))

    def expire_if_idle(self, policy: AttemptPolicy, now: float) -> bool:
        """Start over after a quiet spell; True if something changed."""
        if (
            self.count
            and policy.idle_reset_s is not None
            and self.last_wrong_at is not None
            and now - self.last_wrong_at >= policy.idle_reset_s
            and self.remaining(policy, now) == 0
        ):
            self.reset()
            return True
        return False

    def register_wrong(self, policy: AttemptPolicy, now: float) -> tuple[float, bool]:
        """Count one wrong code; return (delay imposed, whether this one raises the alarm)."""
        self.count += 1
        self.last_wrong_at = now
        delay = policy.delay_after(self.count)
        if delay:
            self.lockout_until = now + delay
        # Equality, not >=: exactly one alarm per streak however long it runs.
        return delay, self.count == policy.alarm_after

    def attempts_left(self, policy: AttemptPolicy) -> int:
        """Wrong codes still allowed before delays start."""
        return max(0, policy.free_attempts - self.count)

    def reset(self) -> None:
        """A correct code (or a quiet spell) ends the streak."""
        self.count = 0
        self.lockout_until = 0.0
        self.last_wrong_at = None

    def to_record(self) -> dict[str, Any]:
        """The journal form."""
        return {
            "count": self.count,
            "lockout_until": self.lockout_until,
            "last_wrong_at": self.last_wrong_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AttemptStreak:
        """Rebuild from the latest journal record."""
        return cls(
            count=int(record["count"]),
            lockout_until=float(record["lockout_until"]),
            last_wrong_at=record.get("last_wrong_at"),
        )


@dataclass
class AttemptBudgets:
    """Wrong attempts in the rolling windows, per terminal and per compartment; journalled."""

    terminal: list[float] = field(default_factory=list)
    compartments: dict[str, list[float]] = field(default_factory=dict)
    terminal_alarm_at: float | None = None

    def prune(self, policy: AttemptPolicy, now: float) -> None:
        """Forget attempts that left their window."""
        self.terminal = _within(self.terminal, now, policy.terminal_window_s)
        kept = {
            cid: _within(times, now, policy.compartment_window_s)
            for cid, times in self.compartments.items()
        }
        self.compartments = {cid: times for cid, times in kept.items() if times}

    def terminal_wait(self, policy: AttemptPolicy, now: float) -> float:
        """Seconds until the terminal's budget allows another attempt (0 if it does now)."""
        self.prune(policy, now)
        if len(self.terminal) < policy.terminal_budget:
            return 0.0
        oldest = sorted(self.terminal)[len(self.terminal) - policy.terminal_budget]
        return max(1.0, oldest + policy.terminal_window_s - now)

    def charge(self, policy: AttemptPolicy, now: float, compartment_ids: list[str]) -> None:
        """Count one wrong attempt on the terminal and on every compartment it addressed."""
        self.prune(policy, now)
        self.terminal.append(now)
        for cid in compartment_ids:
            self.compartments.setdefault(cid, []).append(now)

    def terminal_alarm_due(self, policy: AttemptPolicy, now: float) -> bool:
        """Whether the terminal's budget is spent and no alarm said so within the window."""
        if len(self.terminal) < policy.terminal_budget:
            return False
        last = self.terminal_alarm_at
        # One alarm per window: under a steady attack each freed slot would otherwise alarm.
        if last is not None and last <= now < last + policy.terminal_window_s:
            return False
        self.terminal_alarm_at = now
        return True

    def compartment_exhausted(self, policy: AttemptPolicy, compartment_id: str) -> bool:
        """Whether this compartment's code must lock: its budget in the window is spent."""
        return len(self.compartments.get(compartment_id, ())) >= policy.compartment_budget

    def compartment_closed(self, policy: AttemptPolicy, compartment_id: str) -> bool:
        """Whether no code, not even a new one, may open this compartment within the window."""
        return len(self.compartments.get(compartment_id, ())) >= policy.compartment_hard_budget

    def to_record(self) -> dict[str, Any]:
        """The journal form (joined with the streak's in one attempts record)."""
        return {
            "terminal": list(self.terminal),
            "compartments": dict(self.compartments),
            "terminal_alarm_at": self.terminal_alarm_at,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> AttemptBudgets:
        """Rebuild from the latest attempts record; one from an older release has none."""
        return cls(
            terminal=[float(t) for t in record.get("terminal", ())],
            compartments={
                str(cid): [float(t) for t in times]
                for cid, times in record.get("compartments", {}).items()
            },
            terminal_alarm_at=record.get("terminal_alarm_at"),
        )


def _within(times: list[float], now: float, window: float) -> list[float]:
    # A clock stepped back keeps what lies ahead of it: forgetting would refill the budget.
    return [t for t in times if t > now - window]
