"""The keypad policy of ADR 0011: the phone tail, budgets no opening resets, an alarm per limit."""

import copy

import pytest

from locker.attempts import AttemptPolicy
from locker.compartment import State
from locker.config import LockerConfigError, parse_locker_config
from locker.errors import CodeLocked, TooManyAttempts, WrongCode
from locker.layout import Size

HOUR = 3600.0
DAY = 86_400.0
CODE, TAIL = "123456", "8000"
BASE = {
    "locker": {
        "board": [{"id": "cab1", "kind": "emulated", "channels": 4}],
        "compartment": [{"id": "A01", "size": "S", "board": "cab1", "channel": 1, "door": "same"}],
    }
}


def wrong(rig, code="000000", tail=TAIL):
    with pytest.raises(WrongCode) as caught:
        rig.bank.pickup(code, tail)
    return caught.value


def slot(rig, compartment_id):
    return next(c for c in rig.bank.compartments() if c.id == compartment_id)


def test_a_citizen_who_mistypes_twice_gets_in_with_the_third_try(rig):
    target = rig.load_result("L-1", CODE, tail=TAIL)
    wrong(rig, "123465")
    wrong(rig, CODE, "8001")
    assert rig.bank.pickup(CODE, TAIL).compartment_id == target.id
    assert rig.alarms == [] and rig.board.pulses == [(target.spec.channel, 500)]


def test_a_result_with_a_phone_tail_opens_only_with_both(rig):
    rig.load_result("L-1", CODE, tail=TAIL)
    wrong(rig, CODE, None)  # the code alone
    wrong(rig, CODE, "0008")
    assert rig.board.pulses == []
    assert rig.bank.pickup(CODE, TAIL).compartment_id == "A01"


def test_a_result_without_a_phone_tail_still_opens_with_its_code(rig):
    rig.load_result("L-1", CODE)
    assert rig.bank.pickup(CODE, "9999").compartment_id == "A01"


def test_wrong_attempts_aimed_at_one_result_lock_its_code_and_alarm_once(rig):
    target = rig.load_result("L-1", CODE, tail=TAIL)
    for n in range(5):
        rig.clock.advance(rig.bank.lockout_remaining())
        wrong(rig, f"{n:06d}")  # the right tail: these guesses are aimed at this result
    assert slot(rig, target.id).code_locked
    locked = [a for a in rig.alarms if a.compartment_id == target.id]
    assert len(locked) == 1 and "re-send" in locked[0].detail
    rig.clock.advance(rig.bank.lockout_remaining())
    with pytest.raises(CodeLocked):
        rig.bank.pickup(CODE, TAIL)  # even the right code and tail open nothing now
    with pytest.raises(CodeLocked):
        rig.bank.pickup("999999", TAIL)  # a guess aimed at it: the streak pays, not the result
    assert rig.bank.wrong_code_streak() == 6
    assert len(rig.bank.keypad.budgets.compartments[target.id]) == 5
    assert rig.board.pulses == []
    assert slot(rig, target.id).state == State.HOLDING_RESULT  # the result stays inside


def test_guesses_aimed_at_a_locked_code_still_pay_the_streak_and_the_terminal_budget(rig):
    """Locking one's own code made every later entry with that tail free: no streak, no
    terminal budget, no alarm; and each could still open a result without a phone tail."""
    own = rig.load_result("L-1", CODE, tail=TAIL)
    rig.load_result("L-2", "777777")  # from an older backend: its code alone opens it
    for n in range(5):
        rig.clock.advance(rig.bank.lockout_remaining())
        wrong(rig, f"{n:06d}")
    assert slot(rig, own.id).code_locked
    for n in range(5, 20):
        rig.clock.advance(rig.bank.lockout_remaining())
        with pytest.raises(CodeLocked):
            rig.bank.pickup(f"{n:06d}", TAIL)
    assert rig.bank.wrong_code_streak() == 20
    assert len(rig.bank.keypad.budgets.compartments[own.id]) == 5  # nothing to win there
    assert [a for a in rig.alarms if "within 24 h" in a.detail]
    rig.clock.advance(900)  # past the streak's longest delay: the day's budget still holds
    with pytest.raises(TooManyAttempts) as caught:
        rig.bank.pickup("777777", TAIL)
    assert caught.value.retry_after_s > HOUR
    assert rig.board.pulses == []


def test_only_a_new_code_unlocks_a_locked_one(rig):
    target = rig.load_result("L-1", CODE, tail=TAIL)
    for n in range(5):
        rig.clock.advance(rig.bank.lockout_remaining())
        wrong(rig, f"{n:06d}")
    rig.clock.advance(rig.bank.lockout_remaining())
    tail_ref = target.tail_digest
    again = rig.bank.set_pickup_code("L-1", rig.digest(CODE), rig.clock() + DAY, tail_ref)
    assert again.code_locked  # the same code sent again stays locked
    fresh = rig.bank.set_pickup_code("L-1", rig.digest("654321"), rig.clock() + DAY, tail_ref)
    assert not fresh.code_locked
    assert rig.bank.pickup("654321", TAIL).compartment_id == target.id


def test_after_a_locked_code_is_replaced_the_next_aimed_guess_locks_it_again(rig):
    target = rig.load_result("L-1", CODE, tail=TAIL)
    for n in range(5):
        rig.clock.advance(rig.bank.lockout_remaining())
        wrong(rig, f"{n:06d}")
    tail_ref = slot(rig, target.id).tail_digest
    rig.bank.set_pickup_code("L-1", rig.digest("654321"), rig.clock() + DAY, tail_ref)
    rig.clock.advance(rig.bank.lockout_remaining())
    wrong(rig, "111111")  # the compartment's 30-day budget is still spent
    assert slot(rig, target.id).code_locked
    assert len([a for a in rig.alarms if a.compartment_id == target.id]) == 2


def test_an_opening_does_not_give_back_the_compartments_budget(rig):
    rig.load_result("L-1", CODE, tail=TAIL)
    for n in range(4):
        rig.clock.advance(rig.bank.lockout_remaining())
        wrong(rig, f"{n:06d}")
    rig.clock.advance(rig.bank.lockout_remaining())
    rig.bank.pickup(CODE, TAIL)  # the citizen collects: streak over, budget not
    assert rig.bank.wrong_code_streak() == 0
    rig.load_result("L-2", "222222", tail="1234")  # the next result lands in the same one
    wrong(rig, "333333", "1234")
    assert slot(rig, "A01").code_locked


def test_the_terminal_budget_locks_the_keypad_for_everyone_and_alarms(rig):
    rig.load_result("L-1", CODE, tail=TAIL)
    for n in range(20):
        rig.clock.advance(rig.bank.lockout_remaining())
        wrong(rig, f"{n:06d}", "0000")  # random tails: aimed at no result
    budget_alarms = [a for a in rig.alarms if "within 24 h" in a.detail]
    assert len(budget_alarms) == 1 and budget_alarms[0].compartment_id is None
    rig.clock.advance(HOUR)
    with pytest.raises(TooManyAttempts) as caught:
        rig.bank.pickup(CODE, TAIL)
    assert caught.value.retry_after_s > HOUR
    rig.clock.advance(caught.value.retry_after_s)
    assert rig.bank.pickup(CODE, TAIL).compartment_id == "A01"


def test_a_patient_attacker_below_the_streak_limit_still_raises_an_alarm(rig):
    rig.load_result("L-1", CODE, tail=TAIL)
    for n in range(20):  # four an hour, so every streak ends idle before it reaches five
        if n and n % 4 == 0:
            rig.clock.advance(HOUR)
        rig.clock.advance(rig.bank.lockout_remaining())
        wrong(rig, f"{n:06d}", "0000")
    assert [a.kind for a in rig.alarms] == ["wrong_code_limit"]
    with pytest.raises(TooManyAttempts):
        rig.bank.pickup(CODE, TAIL)


def test_every_streak_that_reaches_the_limit_raises_its_own_alarm(rig):
    for _ in range(2):
        for n in range(5):
            rig.clock.advance(rig.bank.lockout_remaining())
            wrong(rig, f"{n:06d}", "0000")
        rig.clock.advance(2 * HOUR)  # quiet: the next wrong code starts a new streak
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [("wrong_code_limit", None)] * 2


def test_a_restart_keeps_the_budgets(rig):
    rig.load_result("L-1", CODE, tail=TAIL)
    for n in range(4):
        rig.clock.advance(rig.bank.lockout_remaining())
        wrong(rig, f"{n:06d}")
    bank = rig.restart()
    rig.clock.advance(2 * HOUR)
    with pytest.raises(WrongCode):
        bank.pickup("999999", TAIL)
    assert next(c for c in bank.compartments() if c.id == "A01").code_locked


def test_a_phone_tail_digest_needs_a_keypad_that_can_check_it(rig):
    bank = rig.restart(tail_digest=None)
    bank.reserve_for_result("L-1", "APP-1", Size.S)
    with pytest.raises(ValueError, match="phone-tail"):
        bank.set_pickup_code("L-1", rig.digest(CODE), rig.clock() + DAY, "ab" * 32)


def test_the_keypad_policy_is_typed_configuration_with_the_adr_defaults():
    config = parse_locker_config(copy.deepcopy(BASE))
    assert config.keypad == AttemptPolicy()
    data = copy.deepcopy(BASE)
    data["locker"]["keypad"] = {"terminal_budget": 30, "idle_reset_s": False}
    keypad = parse_locker_config(data).keypad
    assert (keypad.terminal_budget, keypad.idle_reset_s) == (30, None)


@pytest.mark.parametrize(
    ("keypad", "message"),
    [
        ({"compartment_budget": 2}, "compartment_budget must be >= 3"),
        ({"terminal_window_s": "1 day"}, "terminal_window_s: must be a number"),
        ({"free_attempts": 1.5}, "free_attempts must be an integer"),
        ({"budget": 5}, "unknown key 'budget'"),
        ("strict", r"\[locker.keypad\]: expected a table"),
    ],
)
def test_a_bad_keypad_policy_names_the_key(keypad, message):
    data = copy.deepcopy(BASE)
    data["locker"]["keypad"] = keypad
    with pytest.raises(LockerConfigError, match=message):
        parse_locker_config(data)


def test_a_steady_attack_raises_one_budget_alarm_per_window_not_one_per_attempt(rig):
    start = rig.clock()
    n = 0
    while rig.clock() < start + 2 * DAY:
        try:
            wrong(rig, f"{n:06d}", "0000")
            n += 1
        except TooManyAttempts as exc:  # wrong() lets only WrongCode through
            rig.clock.advance(exc.retry_after_s)
    budget_alarms = [a for a in rig.alarms if "within 24 h" in a.detail]
    assert n >= 40 and len(budget_alarms) == 2


def test_past_the_hard_budget_not_even_a_new_code_opens_within_the_window(rig):
    target = rig.load_result("L-1", CODE, tail=TAIL)
    tail_ref = target.tail_digest
    for n in range(8):
        rig.clock.advance(rig.bank.lockout_remaining())
        if slot(rig, target.id).code_locked:  # staff answer each lock with a new code
            rig.bank.set_pickup_code("L-1", rig.digest(f"77{n:04d}"), rig.clock() + DAY, tail_ref)
        wrong(rig, f"{n:06d}")
    fresh = rig.bank.set_pickup_code("L-1", rig.digest("654321"), rig.clock() + 40 * DAY, tail_ref)
    assert not fresh.code_locked
    rig.clock.advance(rig.bank.lockout_remaining())
    with pytest.raises(CodeLocked):
        rig.bank.pickup("654321", TAIL)
    assert "in person" in rig.alarms[-1].detail and rig.alarms[-1].compartment_id == target.id
    rig.clock.advance(30 * DAY)  # the window frees: the new code opens
    assert rig.bank.pickup("654321", TAIL).compartment_id == target.id
