"""Compartments an operator takes out of service: never allocated; a locked one opens for none."""

import pytest

from locker.compartment import State
from locker.errors import CompartmentWithheld, NoCompartmentFree, UnknownCompartment
from locker.layout import Size


def test_a_held_compartment_is_skipped_by_allocation_until_put_back(rig):
    smallest = rig.bank.reserve_for_deposit("APP-1", Size.S)
    rig.bank.release(smallest.id)
    rig.bank.hold(smallest.id, locked=False)
    other = rig.bank.reserve_for_deposit("APP-2", Size.S)
    assert other.id != smallest.id
    for c in rig.bank.compartments():
        if c.state == State.EMPTY and c.id != smallest.id:
            rig.bank.hold(c.id, locked=False)
    with pytest.raises(NoCompartmentFree):
        rig.bank.reserve_for_result("L-9", "APP-9", Size.S)
    rig.bank.unhold(smallest.id)
    assert rig.bank.reserve_for_result("L-9", "APP-9", Size.S).id == smallest.id


def test_a_closed_compartment_still_hands_out_its_result_a_locked_one_does_not(rig):
    slot = rig.load_result("L-1", "11112222")
    rig.bank.hold(slot.id, locked=True)
    with pytest.raises(CompartmentWithheld) as refused:
        rig.bank.pickup("11112222")
    assert refused.value.compartment_id == slot.id and "counter" in str(refused.value)
    assert rig.bank.wrong_code_streak() == 0 and rig.board.pulses == []
    rig.bank.hold(slot.id, locked=False)  # only closed now: the code opens it
    assert rig.bank.pickup("11112222").compartment_id == slot.id
    assert rig.bank.held() == {slot.id: False}


def test_a_claim_made_before_the_lock_opens_nothing(rig):
    slot = rig.load_result("L-1", "11112222")
    claim = rig.bank.check_code("11112222")
    rig.bank.hold(slot.id, locked=True)
    with pytest.raises(CompartmentWithheld):
        rig.bank.open_claimed(claim)
    assert rig.board.pulses == []


def test_holds_are_journalled_once_per_change_and_unknown_ids_refused(rig):
    rig.bank.hold("A01", locked=False)
    rig.bank.hold("A01", locked=False)  # a restart applying it again
    rig.bank.hold("A01", locked=True)
    rig.bank.unhold("A01")
    rig.bank.unhold("A01")
    events = [r.event for r in rig.journals[-1].records() if r.compartment_id == "A01"]
    assert events == ["operator_hold", "operator_hold", "operator_unhold"]
    with pytest.raises(UnknownCompartment):
        rig.bank.hold("Z99", locked=False)
