"""Allocation and the deposit/result life cycle, short of pickup by code."""

import pytest

from locker.compartment import State
from locker.errors import InvalidTransition, NoCompartmentFree, UnknownCompartment, UnknownLoad
from locker.layout import Size


def test_allocation_picks_the_smallest_free_size_that_fits(rig):
    assert rig.bank.reserve_for_deposit("APP-1", Size.S).id == "A01"
    assert rig.bank.reserve_for_deposit("APP-2", Size.M).id == "A05"
    assert rig.bank.reserve_for_deposit("APP-3", Size.L).id == "A08"


def test_small_items_spill_into_medium_only_when_small_is_full(rig):
    small = [rig.bank.reserve_for_deposit(f"APP-{n}", Size.S).id for n in range(4)]
    assert small == ["A01", "A02", "A03", "A04"]
    assert rig.bank.reserve_for_deposit("APP-5", Size.S).spec.size == Size.M


def test_allocation_refuses_when_nothing_large_enough_is_free(rig):
    rig.bank.reserve_for_deposit("APP-1", Size.L)
    rig.bank.reserve_for_deposit("APP-2", Size.L)
    with pytest.raises(NoCompartmentFree, match="size L or larger"):
        rig.bank.reserve_for_deposit("APP-3", Size.L)
    # Smaller sizes are still available: the refusal was about size, not a full bank.
    assert rig.bank.reserve_for_deposit("APP-4", Size.S).id == "A01"


def test_allocation_refuses_when_every_compartment_is_taken(rig):
    for n in range(9):
        rig.bank.reserve_for_deposit(f"APP-{n}", Size.S)
    with pytest.raises(NoCompartmentFree):
        rig.bank.reserve_for_deposit("APP-X", Size.S)


def test_out_of_service_compartments_are_never_allocated(rig):
    rig.bank.mark_out_of_service("A01", "door hinge broken")
    assert rig.bank.reserve_for_deposit("APP-1", Size.S).id == "A02"
    a01 = next(c for c in rig.bank.compartments() if c.id == "A01")
    assert a01.state == State.OUT_OF_SERVICE
    assert a01.out_of_service_reason == "door hinge broken"


def test_deposit_reserves_opens_holds_and_is_released_by_staff(rig):
    slot = rig.bank.reserve_for_deposit("APP-1", Size.M)
    assert (slot.state, slot.purpose, slot.application_no) == (State.RESERVED, "deposit", "APP-1")
    rig.bank.open(slot.id)
    assert rig.board.pulses == [(slot.spec.channel, 500)]
    rig.board.door(slot.spec.channel).close()  # the citizen shuts it on their papers
    assert rig.bank.confirm_deposit(slot.id).state == State.HOLDING_DEPOSIT
    released = rig.bank.release(slot.id)
    assert released.state == State.EMPTY
    assert (released.application_no, released.purpose, released.load_id) == (None, None, None)


def test_confirming_a_deposit_into_an_empty_compartment_is_refused(rig):
    with pytest.raises(InvalidTransition, match="A01 is empty"):
        rig.bank.confirm_deposit("A01")


def test_unknown_compartment_is_named_in_the_error(rig):
    with pytest.raises(UnknownCompartment, match="Z99"):
        rig.bank.open("Z99")
    assert rig.board.pulses == []


def test_reserve_for_result_is_idempotent_by_load_id(rig):
    first = rig.bank.reserve_for_result("L-1", "APP-1", Size.S)
    again = rig.bank.reserve_for_result("L-1", "APP-1", Size.S)
    assert again.id == first.id
    reserved = [c for c in rig.bank.compartments() if c.state == State.RESERVED]
    assert [c.id for c in reserved] == [first.id]


def test_one_load_id_cannot_be_reused_for_another_application(rig):
    rig.bank.reserve_for_result("L-1", "APP-1", Size.S)
    with pytest.raises(InvalidTransition, match="another application"):
        rig.bank.reserve_for_result("L-1", "APP-2", Size.S)


def test_a_late_duplicate_reserve_after_pickup_reserves_nothing(rig):
    rig.load_result("L-1", "40417731")
    rig.bank.pickup("40417731")
    with pytest.raises(InvalidTransition, match="already completed"):
        rig.bank.reserve_for_result("L-1", "APP-L-1", Size.S)
    assert all(c.state == State.EMPTY for c in rig.bank.compartments())


def test_confirm_result_loaded_is_idempotent(rig):
    rig.bank.reserve_for_result("L-1", "APP-1", Size.S)
    assert rig.bank.confirm_result_loaded("L-1").state == State.HOLDING_RESULT
    assert rig.bank.confirm_result_loaded("L-1").state == State.HOLDING_RESULT


def test_confirming_an_unknown_load_is_refused(rig):
    with pytest.raises(UnknownLoad, match="L-404"):
        rig.bank.confirm_result_loaded("L-404")


def test_release_is_idempotent_and_returns_out_of_service_to_service(rig):
    rig.bank.mark_out_of_service("A03", "lock jammed")
    assert rig.bank.release("A03").state == State.EMPTY
    assert rig.bank.release("A03").state == State.EMPTY


def test_compartments_are_copies_that_cannot_change_the_bank(rig):
    rig.bank.reserve_for_deposit("APP-1", Size.S)
    copy = rig.bank.compartments()[0]
    copy.state = State.EMPTY
    copy.application_no = "forged"
    assert rig.bank.compartments()[0].state == State.RESERVED
    assert rig.bank.compartments()[0].application_no == "APP-1"


def test_summary_counts_states_without_codes_or_application_numbers(rig):
    rig.load_result("L-1", "40417731")
    rig.bank.reserve_for_deposit("APP-SECRET-9", Size.L)
    rig.bank.mark_out_of_service("A09", "glass cracked")
    summary = rig.bank.summary()
    assert summary["holding_result"] == 1
    assert summary["reserved"] == 1
    assert summary["out_of_service"] == 1
    assert summary["empty"] == 6
    assert summary["expired_codes"] == 0
    assert "APP" not in repr(summary) and "40417731" not in repr(summary)


def test_an_abandoned_deposit_keeps_the_papers_for_staff_across_a_restart(rig):
    slot = rig.bank.reserve_for_deposit("APP-1", Size.S)
    rig.bank.open(slot.id)
    rig.board.door(slot.spec.channel).close()
    rig.bank.confirm_deposit(slot.id)

    kept = rig.bank.abandon_deposit(slot.id, "idle")

    assert rig.board.pulses == [(slot.spec.channel, 500)]  # nothing opened
    assert (kept.state, kept.application_no, kept.abandoned_application_no) == (
        State.HOLDING_DEPOSIT,
        None,
        "APP-1",
    )
    [alarm] = rig.alarms
    assert (alarm.kind, alarm.compartment_id) == ("deposit_abandoned", slot.id)
    assert alarm.detail.startswith("deposit abandoned (idle): originals were deposited")
    assert "APP-1" in alarm.detail
    assert rig.bank.abandon_deposit(slot.id, "stop") == kept  # again: no change, no alarm
    assert len(rig.alarms) == 1
    rig.restart()
    [after] = [c for c in rig.bank.compartments() if c.id == slot.id]
    assert (after.state, after.abandoned_application_no) == (State.HOLDING_DEPOSIT, "APP-1")
    assert rig.bank.reserve_for_deposit("APP-2", Size.S).id != slot.id
    assert rig.bank.release(slot.id).abandoned_application_no is None  # staff collected


def test_a_deposit_opened_but_never_confirmed_is_kept_too(rig):
    slot = rig.bank.reserve_for_deposit("APP-1", Size.S)
    rig.bank.open(slot.id)  # the door stands open; the citizen is gone

    kept = rig.bank.abandon_deposit(slot.id, "fatal")

    assert (kept.state, kept.abandoned_application_no) == (State.HOLDING_DEPOSIT, "APP-1")
    assert "the door may stand open" in rig.alarms[-1].detail


def test_only_a_deposit_can_be_abandoned(rig):
    result = rig.load_result("L-1", "123456")
    with pytest.raises(InvalidTransition, match="abandon a deposit"):
        rig.bank.abandon_deposit(result.id, "idle")
    with pytest.raises(InvalidTransition, match="A09 is empty"):
        rig.bank.abandon_deposit("A09", "idle")
    assert rig.alarms == []
