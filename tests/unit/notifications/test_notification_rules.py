"""Templates without free text, sealed codes, rate-limit windows and provider configuration."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from backend.db import Database
from backend.notifications.aliyun import AliyunSms, action_for
from backend.notifications.config import ConfigError, provider_from_env
from backend.notifications.limits import RateLimits
from backend.notifications.models import NotificationRow
from backend.notifications.outbox import enqueue
from backend.notifications.sealing import Sealer, SealError, load_or_create_key
from backend.notifications.templates import (
    DEFAULT_CODES,
    Kind,
    TemplateError,
    TemplateTable,
    check_params,
)
from backend.sms import Action

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
PHONE = "13800138000"


def test_template_variables_must_match_exactly_and_carry_no_free_text():
    ok = {"no": "AH-T0001-20261203-0001", "reason": "扫描件不清晰"}
    assert check_params(Kind.REJECTED, ok) == ok
    for bad in (
        {"no": "AH-T0001-20261203-0001"},  # missing reason
        {**ok, "extra": "x"},
        {**ok, "reason": "请访问 http://evil.example 补交"},  # a link is never a variable
        {**ok, "reason": "材" * 36},
        {**ok, "reason": ""},
        {**ok, "no": "AH-T0001-20261203-0001\n"},  # `$` let a final newline through
    ):
        with pytest.raises(TemplateError):
            check_params(Kind.REJECTED, bad)


def test_a_template_table_needs_every_kind_and_a_plausible_signature():
    with pytest.raises(TemplateError, match="no template code configured"):
        TemplateTable.of("自助服务", {"submitted": "SMS_1"})
    with pytest.raises(TemplateError, match="unknown message kinds"):
        TemplateTable.of("自助服务", {**DEFAULT_CODES, "marketing": "SMS_9"})
    with pytest.raises(TemplateError, match="sign_name"):
        TemplateTable.of("", DEFAULT_CODES)


def test_a_sealed_code_opens_only_with_its_key_and_its_message():
    key = secrets.token_bytes(32)
    sealed = Sealer(key).seal("out-1", {"code": "123456"})

    assert b"123456" not in sealed
    assert Sealer(key).open("out-1", sealed) == {"code": "123456"}
    with pytest.raises(SealError):
        Sealer(secrets.token_bytes(32)).open("out-1", sealed)
    with pytest.raises(SealError):
        Sealer(key).open("out-2", sealed)  # moved onto another message


def test_the_key_file_is_made_once_and_private(tmp_path):
    path = tmp_path / "keys" / "notification.key"
    first = load_or_create_key(path)

    assert load_or_create_key(path) == first
    assert path.stat().st_mode & 0o077 == 0
    path.write_bytes(b"short")
    with pytest.raises(ValueError, match="32-byte"):
        load_or_create_key(path)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'n.db'}")
    database.migrate()
    yield database
    database.dispose()


def _sent(db: Database, *ago: timedelta, kind: Kind = Kind.SUBMITTED) -> None:
    with db.transaction() as s:
        for delta in ago:
            row = enqueue(s, kind, PHONE, {"no": "AH-T0001-20261203-0001"}, now=NOW - delta)
            assert row is not None
            row.state, row.accepted_at = "accepted", NOW - delta


def _next(db: Database, kind: Kind = Kind.SUBMITTED, limits: RateLimits | None = None) -> datetime:
    with db.transaction() as s:
        return (limits or RateLimits()).next_allowed(s, PHONE, kind.value, NOW)


def test_fifty_a_day_per_number_and_template_as_alibaba_cloud_counts_notifications(db):
    _sent(db, *(timedelta(minutes=20 * k + 10) for k in range(49)))  # the oldest 16h30m ago

    assert _next(db) == NOW  # a resent code or a second application is not held
    _sent(db, timedelta(seconds=5))
    assert _next(db) == NOW + timedelta(hours=24) - timedelta(minutes=20 * 48 + 10)
    assert _next(db, Kind.ACCEPTED) == NOW  # another template is not held


def test_a_provider_with_several_windows_waits_for_the_latest_to_allow(db):
    minute_and_hour = RateLimits(((timedelta(minutes=1), 1), (timedelta(hours=1), 5)))
    _sent(db, timedelta(seconds=20))
    assert _next(db, limits=minute_and_hour) == NOW + timedelta(seconds=40)

    _sent(db, *(timedelta(minutes=m) for m in (40, 30, 20, 10)))
    assert _next(db, limits=minute_and_hour) == NOW + timedelta(minutes=20)


def test_a_reminder_with_the_same_dedupe_key_is_queued_once(db):
    with db.transaction() as s:
        first = enqueue(s, Kind.SUBMITTED, PHONE, {"no": "AH-1"}, now=NOW, dedupe_key="k")
        again = enqueue(s, Kind.SUBMITTED, PHONE, {"no": "AH-1"}, now=NOW, dedupe_key="k")
    assert first is not None and again is None
    with db.transaction() as s:
        assert s.query(NotificationRow).count() == 1


def test_error_codes_map_to_retry_give_up_or_alarm():
    assert action_for("isv.BUSINESS_LIMIT_CONTROL") == Action.RETRY
    assert action_for("isv.MOBILE_NUMBER_ILLEGAL") == Action.GIVE_UP
    assert action_for("isv.SMS_SIGNATURE_ILLEGAL") == Action.ALARM
    assert action_for("isv.SMS_TEMPLATE_ILLEGAL") == Action.ALARM
    assert action_for("isv.AMOUNT_NOT_ENOUGH") == Action.ALARM
    assert action_for("isv.SOMETHING_NEW") == Action.ALARM  # unknown: hold and tell


def test_provider_configuration_names_the_bad_key(tmp_path):
    assert provider_from_env({}) is None
    with pytest.raises(ConfigError, match="ALLHOURS_SMS_PROVIDER"):
        provider_from_env({"ALLHOURS_SMS_PROVIDER": "carrier-pigeon"})
    base = {"ALLHOURS_SMS_PROVIDER": "aliyun", "ALLHOURS_ALIYUN_ACCESS_KEY_ID": "LTAI"}
    with pytest.raises(ConfigError, match="ALLHOURS_ALIYUN_ACCESS_KEY_SECRET"):
        provider_from_env(base)
    table = tmp_path / "templates.json"
    table.write_text(json.dumps({"submitted": "SMS_1"}))
    env = {**base, "ALLHOURS_ALIYUN_ACCESS_KEY_SECRET": "s", "ALLHOURS_SMS_SIGN_NAME": "自助服务",
           "ALLHOURS_SMS_TEMPLATES": str(table)}  # fmt: skip
    with pytest.raises(ConfigError, match="ALLHOURS_SMS_TEMPLATES"):
        provider_from_env(env)
    table.write_text(json.dumps(DEFAULT_CODES))
    provider = provider_from_env(env)
    assert isinstance(provider, AliyunSms) and provider.table.sign_name == "自助服务"
    provider.close()
