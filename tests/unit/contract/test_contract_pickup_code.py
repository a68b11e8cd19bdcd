"""Pickup codes: random six-digit codes, and the keyed digest the terminal is given instead."""

from __future__ import annotations

import hashlib
import hmac
import re

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import pickup_code, schema

KEY = b"terminal-T0001-pickup-key"


def test_the_digest_is_hmac_sha256_over_the_documented_message():
    expected = hmac.new(KEY, b"allhours/v1/pickup-code|T0001|042917", hashlib.sha256).hexdigest()
    assert pickup_code.digest(KEY, "T0001", "042917") == expected


def test_the_digest_is_deterministic_and_fits_a_set_pickup_code_command():
    first = pickup_code.digest(KEY, "T0001", "042917")
    assert first == pickup_code.digest(KEY, "T0001", "042917")
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    example = schema.examples()["command.set_pickup_code"]
    command = m.SetPickupCode(**{**example.model_dump(), "code_digest": first})
    assert command.code_digest == first


def test_the_digest_differs_by_key_terminal_and_code():
    base = pickup_code.digest(KEY, "T0001", "042917")
    assert pickup_code.digest(b"another-key", "T0001", "042917") != base
    assert pickup_code.digest(KEY, "T0002", "042917") != base
    assert pickup_code.digest(KEY, "T0001", "042918") != base
    assert pickup_code.digest(KEY, "T0001", "42917") != base


def test_the_digest_ignores_whitespace_typed_around_the_code():
    assert pickup_code.digest(KEY, "T0001", " 042917\n") == pickup_code.digest(
        KEY, "T0001", "042917"
    )


def test_a_new_code_is_six_digits():
    codes = {pickup_code.new_code() for _ in range(200)}
    assert all(re.fullmatch(r"[0-9]{6}", c) for c in codes)
    assert len(codes) > 1


def test_a_new_code_keeps_its_leading_zeros(monkeypatch):
    monkeypatch.setattr(pickup_code.secrets, "randbelow", lambda n: 42)
    assert pickup_code.new_code() == "000042"
