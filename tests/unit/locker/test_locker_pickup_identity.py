"""Two-phase pickup: a code is checked first, the compartment opens only for the right holder."""

import pytest

from locker.compartment import State
from locker.errors import (
    ClaimLapsed,
    CodeLocked,
    IdentityRequired,
    InvalidTransition,
    TooManyAttempts,
    WrongCode,
    WrongHolder,
)
from locker.keypad import CLAIM_TTL_S
from locker.layout import Size

DAY = 86_400.0
CODE = "24681357"
HOLDER = "a" * 64
OTHER = "b" * 64


def load_for_holder(rig, load_id="L-1", code=CODE, holder=HOLDER, size=Size.S):
    rig.bank.reserve_for_result(load_id, f"APP-{load_id}", size, holder_ref=holder)
    rig.bank.confirm_result_loaded(load_id)
    return rig.bank.set_pickup_code(load_id, rig.digest(code), rig.clock() + 3 * DAY)


def slot(rig, compartment_id):
    return next(c for c in rig.bank.compartments() if c.id == compartment_id)


def events(rig):
    return [r.event for r in rig.journals[-1].records()]


def test_the_code_alone_does_not_open_a_result_that_has_a_holder(rig):
    target = load_for_holder(rig)
    with pytest.raises(IdentityRequired):
        rig.bank.pickup(CODE)
    assert rig.board.pulses == []
    assert slot(rig, target.id).state == State.HOLDING_RESULT
    assert rig.bank.wrong_code_streak() == 0  # the right code is no wrong attempt


def test_checking_a_code_opens_nothing_and_the_holder_opens_it(rig):
    rig.load_result("L-0", "11112222")
    target = load_for_holder(rig, "L-1", size=Size.M)
    claim = rig.bank.check_code(CODE)
    assert (claim.compartment_id, claim.load_id, claim.needs_identity) == (target.id, "L-1", True)
    assert rig.board.pulses == []
    assert "code_checked" in events(rig)

    opened = rig.bank.open_claimed(claim, HOLDER)

    assert opened.compartment_id == target.id and opened.application_no == "APP-L-1"
    assert rig.board.pulses == [(target.spec.channel, 500)]
    assert slot(rig, target.id).state == State.EMPTY
    assert slot(rig, target.id).holder_ref is None


def test_another_persons_card_opens_nothing_and_counts_as_a_wrong_attempt(rig):
    target = load_for_holder(rig)
    claim = rig.bank.check_code(CODE)
    with pytest.raises(WrongHolder) as caught:
        rig.bank.open_claimed(claim, OTHER)
    assert "for the applicant" in str(caught.value)
    assert caught.value.attempts_left == 2
    assert rig.board.pulses == []
    assert rig.bank.wrong_code_streak() == 1
    assert "wrong_holder" in events(rig)
    # The claim is spent: the right holder must type the code again, which still works.
    with pytest.raises(ClaimLapsed):
        rig.bank.open_claimed(claim, HOLDER)
    again = rig.bank.check_code(CODE)
    assert rig.bank.open_claimed(again, HOLDER).compartment_id == target.id
    assert rig.bank.wrong_code_streak() == 0


def test_a_stolen_code_tried_with_one_card_after_another_locks_the_keypad_and_the_code(rig):
    target = load_for_holder(rig)
    for n in range(5):
        rig.clock.advance(rig.bank.lockout_remaining())
        claim = rig.bank.check_code(CODE)  # the right code never resets the streak
        with pytest.raises(WrongHolder):
            rig.bank.open_claimed(claim, f"{n:064x}")
    assert rig.bank.wrong_code_streak() == 5
    # The streak's alarm, and the result's own budget spent: its code locks, with an alarm.
    assert [(a.kind, a.compartment_id) for a in rig.alarms] == [
        ("wrong_code_limit", None),
        ("wrong_code_limit", target.id),
    ]
    with pytest.raises(TooManyAttempts):
        rig.bank.check_code(CODE)
    rig.clock.advance(rig.bank.lockout_remaining())
    with pytest.raises(CodeLocked):
        rig.bank.check_code(CODE)
    assert rig.board.pulses == []


def test_wrong_codes_and_wrong_holders_share_one_streak(rig):
    load_for_holder(rig)
    for _ in range(2):
        with pytest.raises(WrongCode):
            rig.bank.check_code("00000000")
    claim = rig.bank.check_code(CODE)
    with pytest.raises(WrongHolder) as caught:
        rig.bank.open_claimed(claim, OTHER)
    assert caught.value.attempts_left == 0


def test_without_a_verified_card_the_claim_waits(rig):
    target = load_for_holder(rig)
    claim = rig.bank.check_code(CODE)
    with pytest.raises(IdentityRequired):
        rig.bank.open_claimed(claim)
    assert rig.board.pulses == []
    assert rig.bank.open_claimed(claim, HOLDER).compartment_id == target.id


def test_a_code_only_result_claims_without_identity_and_opens(rig):
    target = rig.load_result("L-1", CODE)
    claim = rig.bank.check_code(CODE)
    assert claim.needs_identity is False
    assert rig.bank.open_claimed(claim).compartment_id == target.id
    assert len(rig.board.pulses) == 1


def test_a_power_cut_between_check_and_open_leaves_the_result_and_its_code(rig):
    target = load_for_holder(rig)
    claim = rig.bank.check_code(CODE)

    rig.restart()

    with pytest.raises(ClaimLapsed):
        rig.bank.open_claimed(claim, HOLDER)
    assert rig.board.pulses == []
    kept = slot(rig, target.id)
    assert kept.state == State.HOLDING_RESULT and kept.holder_ref == HOLDER
    assert rig.bank.unconfirmed_openings() == []
    fresh = rig.bank.check_code(CODE)
    assert rig.bank.open_claimed(fresh, HOLDER).compartment_id == target.id


def test_a_claim_left_too_long_lapses(rig):
    load_for_holder(rig)
    claim = rig.bank.check_code(CODE)
    rig.clock.advance(CLAIM_TTL_S + 1)
    with pytest.raises(ClaimLapsed):
        rig.bank.open_claimed(claim, HOLDER)
    assert rig.board.pulses == [] and "claim_lapsed" in events(rig)


def test_a_code_rotated_or_withdrawn_meanwhile_ends_the_claim(rig):
    load_for_holder(rig, "L-1")
    claim = rig.bank.check_code(CODE)
    rig.bank.set_pickup_code("L-1", rig.digest("99990000"), rig.clock() + DAY)
    with pytest.raises(ClaimLapsed):
        rig.bank.open_claimed(claim, HOLDER)

    claim = rig.bank.check_code("99990000")
    rig.bank.withdraw_result("L-1")
    with pytest.raises(ClaimLapsed):
        rig.bank.open_claimed(claim, HOLDER)
    assert rig.board.pulses == []


def test_a_released_claim_opens_nothing_and_a_newer_claim_replaces_an_older(rig):
    load_for_holder(rig, "L-1")
    rig.load_result("L-2", "55556666")
    claim = rig.bank.check_code(CODE)
    rig.bank.release_claim(claim)
    assert "claim_released" in events(rig)
    with pytest.raises(ClaimLapsed):
        rig.bank.open_claimed(claim, HOLDER)

    first = rig.bank.check_code(CODE)
    rig.bank.check_code("55556666")
    with pytest.raises(ClaimLapsed):
        rig.bank.open_claimed(first, HOLDER)
    assert rig.board.pulses == []


def test_the_holder_is_journalled_but_never_in_a_repr(rig):
    target = load_for_holder(rig)
    assert HOLDER not in repr(target)
    assert HOLDER not in repr(rig.bank.check_code(CODE))
    rig.restart()
    assert slot(rig, target.id).holder_ref == HOLDER


def test_a_duplicate_load_with_another_holder_is_refused(rig):
    first = rig.bank.reserve_for_result("L-1", "APP-1", Size.S, holder_ref=HOLDER)
    assert rig.bank.reserve_for_result("L-1", "APP-1", Size.S, holder_ref=HOLDER).id == first.id
    with pytest.raises(InvalidTransition):
        rig.bank.reserve_for_result("L-1", "APP-1", Size.S, holder_ref=OTHER)
    with pytest.raises(InvalidTransition):
        rig.bank.reserve_for_result("L-1", "APP-1", Size.S)
