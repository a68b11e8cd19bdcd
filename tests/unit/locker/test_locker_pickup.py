"""Pickup by code: matching, attempt limits, lockout, expiry, rotation and lock faults."""

import pytest

from locker.compartment import State
from locker.errors import (
    CodeCollision,
    CodeExpired,
    InvalidTransition,
    LockerFault,
    TooManyAttempts,
    WrongCode,
)
from locker.layout import Size

DAY = 86_400.0


def state_of(bank, compartment_id):
    return next(c for c in bank.compartments() if c.id == compartment_id).state


def wrong(rig, code="00000000"):
    with pytest.raises(WrongCode) as caught:
        rig.bank.pickup(code)
    return caught.value


def test_the_right_code_pulses_exactly_that_compartments_channel(rig):
    rig.load_result("L-1", "11112222")
    target = rig.load_result("L-2", "33334444", size=Size.M)
    opened = rig.bank.pickup("33334444")
    assert opened.compartment_id == target.id
    assert (opened.application_no, opened.load_id) == ("APP-L-2", "L-2")
    assert rig.board.pulses == [(target.spec.channel, 500)]
    assert state_of(rig.bank, target.id) == State.EMPTY


def test_a_picked_up_code_does_not_open_twice(rig):
    rig.load_result("L-1", "11112222")
    rig.bank.pickup("11112222")
    wrong(rig, "11112222")
    assert len(rig.board.pulses) == 1


def test_a_wrong_code_never_pulses_any_lock(rig):
    rig.load_result("L-1", "11112222")
    error = wrong(rig, "11112223")
    assert rig.board.pulses == []
    assert error.attempts_left == 2 and error.retry_after == 0
    assert state_of(rig.bank, "A01") == State.HOLDING_RESULT


def test_a_code_for_a_result_not_yet_loaded_opens_nothing(rig):
    rig.bank.reserve_for_result("L-1", "APP-1", Size.S)
    rig.bank.set_pickup_code("L-1", rig.digest("11112222"), rig.clock() + DAY)
    wrong(rig, "11112222")
    assert rig.board.pulses == []


def test_wrong_codes_impose_a_doubling_capped_delay_and_one_alarm_per_streak(rig):
    rig.load_result("L-1", "11112222")
    delays = []
    for _ in range(10):
        error = wrong(rig)
        delays.append(error.retry_after)
        rig.clock.advance(error.retry_after)
    assert delays == [0, 0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert [a.kind for a in rig.alarms] == ["wrong_code_limit"]
    assert rig.alarms[0].compartment_id is None
    assert rig.board.pulses == []


def test_the_alarm_comes_with_the_fifth_wrong_code(rig):
    for _ in range(4):
        rig.clock.advance(wrong(rig).retry_after)
    assert rig.alarms == []
    wrong(rig)
    assert len(rig.alarms) == 1


def test_a_lockout_refuses_even_the_right_code_without_checking_it(rig):
    rig.load_result("L-1", "11112222")
    for _ in range(4):
        wrong(rig)
    assert rig.bank.lockout_remaining() == 30
    checked = []
    bank = rig.restart(code_digest=lambda c: checked.append(c) or rig.digest(c))
    rig.clock.advance(29)
    with pytest.raises(TooManyAttempts) as caught:
        bank.pickup("11112222")
    assert caught.value.retry_after_s == pytest.approx(1)
    assert checked == [] and rig.board.pulses == []
    rig.clock.advance(1)
    assert bank.pickup("11112222").compartment_id == "A01"
    assert bank.wrong_code_streak() == 0


def test_a_correct_code_ends_the_streak(rig):
    rig.load_result("L-1", "11112222")
    rig.load_result("L-2", "33334444")
    wrong(rig)
    wrong(rig)
    rig.bank.pickup("11112222")
    assert wrong(rig).attempts_left == 2


def test_a_long_quiet_spell_ends_the_streak(rig):
    for _ in range(3):
        wrong(rig)
    rig.clock.advance(3600)
    error = wrong(rig)
    assert (error.attempts_left, error.retry_after) == (2, 0)


def test_an_expired_code_is_refused_opens_nothing_and_is_not_a_wrong_attempt(rig):
    rig.load_result("L-1", "11112222", ttl=DAY)
    rig.clock.advance(DAY)
    with pytest.raises(CodeExpired, match="expired"):
        rig.bank.pickup("11112222")
    assert rig.board.pulses == []
    assert rig.bank.wrong_code_streak() == 0
    assert state_of(rig.bank, "A01") == State.HOLDING_RESULT
    assert rig.bank.summary()["expired_codes"] == 1


def test_a_code_opens_until_the_moment_before_it_expires(rig):
    rig.load_result("L-1", "11112222", ttl=DAY)
    rig.clock.advance(DAY - 1)
    assert rig.bank.pickup("11112222").compartment_id == "A01"


def test_rotation_retires_the_old_code(rig):
    rig.load_result("L-1", "11112222")
    rig.bank.set_pickup_code("L-1", rig.digest("55556666"), rig.clock() + DAY)
    wrong(rig, "11112222")
    assert rig.board.pulses == []
    assert rig.bank.pickup("55556666").compartment_id == "A01"


def test_setting_the_same_code_twice_is_a_harmless_duplicate(rig):
    first = rig.load_result("L-1", "11112222")
    again = rig.bank.set_pickup_code("L-1", rig.digest("11112222"), first.code_expires_at)
    assert again.code_digest == first.code_digest


def test_a_code_already_active_elsewhere_is_refused(rig):
    rig.load_result("L-1", "11112222")
    rig.bank.reserve_for_result("L-2", "APP-2", Size.S)
    with pytest.raises(CodeCollision, match="L-2"):
        rig.bank.set_pickup_code("L-2", rig.digest("11112222"), rig.clock() + DAY)


def test_a_withdrawn_result_no_longer_opens_and_stays_until_released(rig):
    rig.load_result("L-1", "11112222")
    withdrawn = rig.bank.withdraw_result("L-1")
    assert withdrawn.state == State.HOLDING_RESULT and withdrawn.code_digest is None
    wrong(rig, "11112222")
    with pytest.raises(InvalidTransition, match="withdrawn"):
        rig.bank.set_pickup_code("L-1", rig.digest("11112222"), rig.clock() + DAY)
    assert rig.board.pulses == []
    assert rig.bank.release("A01").state == State.EMPTY


def test_an_unplugged_board_raises_an_alarm_and_keeps_the_result(rig):
    rig.load_result("L-1", "11112222")
    rig.board.unplug()  # its door inputs go with it: nothing says whether the door opened
    with pytest.raises(LockerFault, match="A01 may have opened") as caught:
        rig.bank.pickup("11112222")
    assert "unplugged" in caught.value.detail
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [
        ("lock_fault", "A01"),
        ("opening_unconfirmed", "A01"),
    ]
    slot = rig.bank.compartments()[0]
    assert slot.state == State.HOLDING_RESULT and slot.load_id == "L-1"
    rig.board.plug()
    assert rig.bank.pickup("11112222").compartment_id == "A01"
    assert rig.board.pulses == [(1, 500)]


def test_a_staff_open_on_an_unplugged_board_changes_nothing_but_raises_an_alarm(rig):
    slot = rig.bank.reserve_for_deposit("APP-1", Size.S)
    rig.board.unplug()
    with pytest.raises(LockerFault):
        rig.bank.open(slot.id)
    assert [a.kind for a in rig.alarms] == ["lock_fault"]
    assert state_of(rig.bank, slot.id) == State.RESERVED


def test_a_failing_alarm_sink_does_not_change_the_outcome(rig):
    def broken(alarm):
        raise RuntimeError("outbox full")

    bank = rig.restart(on_alarm=broken)
    rig.board.unplug()
    rig.load_result("L-1", "11112222")
    with pytest.raises(LockerFault):
        bank.pickup("11112222")
