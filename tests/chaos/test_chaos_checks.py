"""The chaos run's checks find what they are there to find: an SMS handed to the provider twice,
one never sent, a phone told the same thing twice, a story without its pickup code, and a
compartment pulsed more (or less) often than its pickups (allhours/chaos.py)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from allhours.chaos import opening_problems, sms_problems
from backend.notifications.aliyun_emulator import ReceivedSms

CODES = {"submitted": "SMS_1", "pickup_code": "SMS_2", "picked_up": "SMS_3"}
NO = "AH-T0001-20261204-0001"
PHONE = "13901000000"


def _sms(out_id: str, template: str, no: str = NO) -> ReceivedSms:
    return ReceivedSms(PHONE, f"申请{no}…", template, out_id, f"b{out_id}", datetime.now(UTC))


def _story() -> tuple[list[tuple], list[ReceivedSms], list[tuple[str, str, str]]]:
    rows = [
        ("o1", "submitted", NO, "accepted"),
        ("o2", "pickup_code", NO, "accepted"),
        ("o3", "picked_up", NO, "accepted"),
    ]
    received = [_sms("o1", "SMS_1"), _sms("o2", "SMS_2"), _sms("o3", "SMS_3")]
    attempts = [(sms.out_id, sms.template_code, PHONE) for sms in received]
    return rows, received, attempts


def test_a_whole_story_sent_once_passes():
    rows, received, attempts = _story()
    assert sms_problems(rows, received, attempts, CODES, {NO}) == []


def test_a_second_hand_over_a_lost_send_and_a_doubled_text_are_named():
    rows, received, attempts = _story()
    twice = sms_problems(rows, received, [*attempts, attempts[1]], CODES, {NO})
    assert twice == ["1 SMS were handed to the provider more than once: ['o2']"]

    lost = sms_problems(rows, received[:1] + received[2:], attempts, CODES, {NO})
    assert any("not sent exactly once: [('pickup_code'" in p for p in lost)
    assert any("without one 'pickup_code' SMS" in p for p in lost)

    doubled = sms_problems(rows, [*received, _sms("o9", "SMS_3")], attempts, CODES, {NO})
    assert any("reached a phone twice: [('SMS_3', 'AH-T0001-20261204-0001')]" in p for p in doubled)

    other = "AH-T0002-20261204-0001"
    assert any(
        "applications without one 'submitted' SMS: ['AH-T0002-20261204-0001']" in p
        for p in sms_problems(rows, received, attempts, CODES, {NO, other})
    )


def test_compartments_pulsed_once_per_pickup_pass_and_any_other_count_is_named():
    picked = [("T0001", "A01"), ("T0001", "A02"), ("T0003", "A01")]
    once = {"T0001": Counter(A01=1, A02=1, A03=0), "T0003": Counter(A01=1)}
    assert opening_problems(picked, once) == []

    again = {"T0001": Counter(A01=2, A02=1), "T0003": Counter(A01=1)}
    assert opening_problems(picked, again) == [
        "T0001: pickups pulsed compartments {'A01': 2} more often than picked up and {} less"
    ]
    never = {"T0001": Counter(A01=1), "T0003": Counter()}
    assert opening_problems(picked, never) == [
        "T0001: pickups pulsed compartments {} more often than picked up and {'A02': 1} less",
        "T0003: pickups pulsed compartments {} more often than picked up and {'A01': 1} less",
    ]
