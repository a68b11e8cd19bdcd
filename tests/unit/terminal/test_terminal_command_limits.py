"""Bounds a terminal keeps even on correctly signed commands: arming rate and code lifetime."""

from __future__ import annotations

from datetime import timedelta

from command_delivery import deliver
from terminal_unit_kiosk import KEY, TERMINAL, Kiosk

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code
from terminal.command_limits import ArmingBudget, CommandLimits
from terminal.flows.staff import StaffMember

# Service mode as a clerk the backend signed in (these tests have no backend to ask).
CLERK = StaffMember("clerk.test", "", "STAFF-test")

APPLICATION = "AH-T0001-20261118-0007"


def _load(kiosk: Kiosk, load_id: str) -> m.CommandAck:
    ack = deliver(
        kiosk.node,
        m.LoadResult(
            terminal_id=TERMINAL,
            operation_id=load_id,
            load_id=load_id,
            application_no=APPLICATION,
            expires_at=kiosk.clock() + timedelta(hours=1),
            item_code="SB-0203",
        ),
    )
    assert ack is not None
    return ack


def test_a_code_lives_no_longer_than_the_terminal_allows(kiosk: Kiosk):
    loaded = _load(kiosk, "L-long")
    staff = kiosk.node.staff(CLERK)
    staff.open_for_load("L-long")
    staff.confirm_loaded("L-long")
    now = kiosk.clock()
    ack = deliver(
        kiosk.node,
        m.SetPickupCode(
            terminal_id=TERMINAL,
            operation_id="L-long#1",
            load_id="L-long",
            application_no=APPLICATION,
            code_digest=pickup_code.digest(KEY, TERMINAL, "482913"),
            code_expires_at=now + timedelta(days=365),  # a backend gone wrong, or a stolen key
            expires_at=now + timedelta(hours=1),
        ),
    )
    assert ack is not None and ack.outcome == m.AckOutcome.DONE
    [slot] = [
        c for c in kiosk.node.locker.compartments() if c.id == loaded.result["compartment_id"]
    ]
    cap = (now + CommandLimits().max_code_lifetime).timestamp()
    assert slot.code_expires_at is not None and abs(slot.code_expires_at - cap) < 1


def test_arming_commands_beyond_the_hourly_budget_are_refused_and_alarmed(kiosk: Kiosk):
    kiosk.node.arming = ArmingBudget(CommandLimits(arming_per_hour=3))
    outcomes = [_load(kiosk, f"L-{n}").outcome for n in range(4)]

    assert outcomes == [m.AckOutcome.DONE] * 3 + [m.AckOutcome.REJECTED]
    alarms = [a for a in kiosk.messages(m.Alarm) if a.kind == m.AlarmKind.SECURITY]  # type: ignore[attr-defined]
    assert len(alarms) == 1
    kiosk.clock.advance(hours=1, seconds=1)
    assert _load(kiosk, "L-next-hour").outcome == m.AckOutcome.DONE


def test_the_budget_slides_over_the_hour():
    from datetime import UTC, datetime

    budget = ArmingBudget(CommandLimits(arming_per_hour=2))
    t0 = datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    assert budget.take(t0) and budget.take(t0 + timedelta(minutes=30))
    assert not budget.take(t0 + timedelta(minutes=59))
    assert budget.take(t0 + timedelta(minutes=60))
    assert not budget.take(t0 + timedelta(minutes=61))
