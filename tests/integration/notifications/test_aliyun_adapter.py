"""The Alibaba Cloud SMS adapter against the loopback emulator: accepts, refusals, outages."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from backend.notifications.aliyun import AliyunSettings, AliyunSms, sign
from backend.notifications.aliyun_emulator import AliyunSmsEmulator
from backend.notifications.templates import DEFAULT_TABLE, Kind
from backend.sms import Action, ProviderRefused, ProviderUnreachable, SmsRequest
from cloud_bridge.contract.messages import SERVICE_TZ

PHONE = "13800138000"
ACCEPTED = DEFAULT_TABLE.templates[Kind.ACCEPTED].template_code
SUBMITTED = DEFAULT_TABLE.templates[Kind.SUBMITTED].template_code


@pytest.fixture
def emulator():
    with AliyunSmsEmulator() as emu:
        yield emu


def _provider(emulator: AliyunSmsEmulator, **changes: object) -> AliyunSms:
    settings = AliyunSettings(
        access_key_id="LTAI-allhours-test",
        access_key_secret="allhours-test-secret",
        table=DEFAULT_TABLE,
        endpoint=emulator.endpoint,
        read_timeout_s=2.0,
    )
    return AliyunSms(replace(settings, **changes))


@pytest.fixture
def provider(emulator):
    p = _provider(emulator)
    yield p
    p.close()


def _request(phone: str = PHONE, code: str = ACCEPTED, **params: str) -> SmsRequest:
    return SmsRequest(phone, code, params or {"no": "AH-T0001-20261120-0001"}, out_id="o1")


def test_an_accepted_message_reaches_the_handset_with_signature_and_wording(emulator, provider):
    accepted = provider.send(_request())

    assert accepted.biz_id.endswith("^0")
    (sms,) = emulator.inbox(PHONE)
    assert sms.text == "【自助服务】您的申请AH-T0001-20261120-0001已受理，正在审核。"
    assert (sms.out_id, sms.biz_id) == ("o1", accepted.biz_id)


def test_a_wrong_secret_is_refused_as_a_signature_mismatch_and_raises_an_alarm(emulator):
    wrong = _provider(emulator, access_key_secret="not-the-secret")
    try:
        with pytest.raises(ProviderRefused) as info:
            wrong.send(_request())
    finally:
        wrong.close()

    assert (info.value.code, info.value.action) == ("SignatureDoesNotMatch", Action.ALARM)
    assert emulator.inbox(PHONE) == []


def test_an_unknown_access_key_is_refused(emulator):
    stranger = _provider(emulator, access_key_id="LTAI-nobody")
    try:
        with pytest.raises(ProviderRefused) as info:
            stranger.send(_request())
    finally:
        stranger.close()
    assert info.value.code == "InvalidAccessKeyId.NotFound"


def test_a_number_that_is_not_a_mobile_is_given_up(emulator, provider):
    with pytest.raises(ProviderRefused) as info:
        provider.send(_request(phone="02088886666"))

    assert (info.value.code, info.value.action) == ("isv.MOBILE_NUMBER_ILLEGAL", Action.GIVE_UP)


def test_an_unregistered_template_or_signature_raises_an_alarm(emulator, provider):
    with pytest.raises(ProviderRefused) as template:
        provider.send(_request(code="SMS_00000000"))
    other_table = replace(DEFAULT_TABLE, sign_name="别的签名")
    unsigned = _provider(emulator, table=other_table)
    try:
        with pytest.raises(ProviderRefused) as signature:
            unsigned.send(_request())
    finally:
        unsigned.close()

    assert (template.value.code, template.value.action) == (
        "isv.SMS_TEMPLATE_ILLEGAL",
        Action.ALARM,
    )
    assert signature.value.code == "isv.SMS_SIGNATURE_ILLEGAL"
    assert signature.value.action == Action.ALARM


def test_missing_template_variables_are_refused(emulator, provider):
    with pytest.raises(ProviderRefused) as info:
        provider.send(_request(other="x"))

    assert info.value.code == "isv.TEMPLATE_MISSING_PARAMETERS"


def test_flow_control_per_number_and_template_is_a_retry(emulator, provider):
    for _ in range(50):  # a notification template: 50 to one number in any 24 hours
        provider.send(_request())
    provider.send(_request(code=SUBMITTED))  # another template counts apart
    with pytest.raises(ProviderRefused) as info:
        provider.send(_request())

    assert (info.value.code, info.value.action) == ("isv.BUSINESS_LIMIT_CONTROL", Action.RETRY)
    assert len(emulator.inbox(PHONE)) == 51


def test_a_captured_request_sent_again_is_refused(emulator):
    params = {
        "AccessKeyId": "LTAI-allhours-test",
        "Action": "SendSms",
        "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "5f0c6a0e2b3d4c1f9a8b7c6d5e4f3a2b",
        "SignatureVersion": "1.0",
        "Timestamp": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        "Version": "2017-05-25",
        "PhoneNumbers": PHONE,
        "SignName": DEFAULT_TABLE.sign_name,
        "TemplateCode": ACCEPTED,
        "TemplateParam": '{"no": "AH-T0001-20261120-0001"}',
    }
    params["Signature"] = sign("allhours-test-secret", "POST", params)

    first = httpx.post(emulator.endpoint, data=params).json()
    replayed = httpx.post(emulator.endpoint, data=params).json()

    assert first["Code"] == "OK"
    assert replayed["Code"] == "SignatureNonceUsed"
    assert len(emulator.inbox(PHONE)) == 1


def test_a_stale_timestamp_is_refused(emulator):
    late = AliyunSms(
        AliyunSettings(
            "LTAI-allhours-test", "allhours-test-secret", DEFAULT_TABLE, endpoint=emulator.endpoint
        ),
        clock=lambda: datetime.now(UTC) - timedelta(hours=1),
    )
    try:
        with pytest.raises(ProviderRefused) as info:
            late.send(_request())
    finally:
        late.close()
    assert info.value.code == "InvalidTimeStamp.Expired"


def test_a_provider_that_is_down_is_unreachable_and_nothing_was_sent(emulator, provider):
    emulator.down = True

    with pytest.raises(ProviderUnreachable) as info:
        provider.send(_request())

    assert info.value.maybe_sent is False
    assert emulator.inbox(PHONE) == []


def test_a_slow_answer_may_have_sent_and_the_lookup_finds_it(emulator):
    impatient = _provider(emulator, read_timeout_s=0.2)
    emulator.delay_s = 0.6
    try:
        with pytest.raises(ProviderUnreachable) as info:
            impatient.send(_request())
        emulator.delay_s = 0
        found = impatient.lookup(PHONE, "o1", datetime.now(SERVICE_TZ).date())
    finally:
        impatient.close()

    assert info.value.maybe_sent is True
    assert found is not None and found.status == "delivered"
    assert len(emulator.inbox(PHONE)) == 1


# Answers that are not the API's, as a gateway or a proxy between may send them back.
MANGLED = {
    "nested thousands deep": (200, b"[" * 5000 + b"]" * 5000),
    "a gateway's error page": (502, b"<html><body>502 Bad Gateway</body></html>"),
    "a list": (200, b'["OK"]'),
    "cut short": (200, b'{"Code": "OK", "BizId": "12'),
}


@pytest.mark.parametrize("mangled", sorted(MANGLED))
def test_a_send_whose_answer_is_not_the_apis_is_looked_up_not_sent_twice(
    emulator, provider, mangled
):
    emulator.mangled = MANGLED[mangled]

    with pytest.raises(ProviderUnreachable) as info:
        provider.send(_request())

    # The call was taken: the dispatcher asks the provider before it sends again.
    assert info.value.maybe_sent is True
    assert "not the API's answer" in str(info.value)
    emulator.mangled = None
    found = provider.lookup(PHONE, "o1", datetime.now(SERVICE_TZ).date())
    assert found is not None and found.status == "delivered"
    assert len(emulator.inbox(PHONE)) == 1


LOOKUP_ANSWERS = {
    "nested thousands deep": b'{"Code": "OK", "TotalCount": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "details a list": b'{"Code": "OK", "SmsSendDetailDTOs": [1], "TotalCount": 1}',
    "a detail a string": b'{"Code": "OK", "SmsSendDetailDTOs": {"SmsSendDetailDTO": ["o1"]}}',
    "a count in words": b'{"Code": "OK", "SmsSendDetailDTOs": {}, "TotalCount": "many"}',
    "a status in words": (
        b'{"Code": "OK", "SmsSendDetailDTOs": {"SmsSendDetailDTO": '
        b'[{"OutId": "o1", "SendStatus": "sent"}]}, "TotalCount": 1}'
    ),
    "a status too large for a number": (
        b'{"Code": "OK", "SmsSendDetailDTOs": {"SmsSendDetailDTO": '
        b'[{"OutId": "o1", "SendStatus": 1e999}]}, "TotalCount": 1}'
    ),
    "pages without end": (
        b'{"Code": "OK", "SmsSendDetailDTOs": {"SmsSendDetailDTO": '
        b'[{"OutId": "other", "SendStatus": 3}]}, "TotalCount": 1000000000000}'
    ),
    "a date of another form": (
        b'{"Code": "OK", "SmsSendDetailDTOs": {"SmsSendDetailDTO": [{"OutId": "o1", '
        b'"SendStatus": 3, "ReceiveDate": "20261203"}]}, "TotalCount": 1}'
    ),
}


@pytest.mark.parametrize("answer", sorted(LOOKUP_ANSWERS))
def test_a_lookup_answer_not_as_documented_is_unreachable_and_asked_again(
    emulator, provider, answer
):
    provider.send(_request())
    emulator.mangled = (200, LOOKUP_ANSWERS[answer])

    with pytest.raises(ProviderUnreachable) as info:
        provider.lookup(PHONE, "o1", datetime.now(SERVICE_TZ).date())

    assert info.value.maybe_sent is False
    emulator.mangled = None
    found = provider.lookup(PHONE, "o1", datetime.now(SERVICE_TZ).date())
    assert found is not None and found.status == "delivered"


def test_lookup_reports_an_undeliverable_handset(emulator, provider):
    emulator.unreachable.add(PHONE)
    provider.send(_request())

    report = provider.lookup(PHONE, "o1", datetime.now(SERVICE_TZ).date())

    assert report is not None
    assert (report.status, report.err_code) == ("undelivered", "MOBILE_NOT_ON_SERVICE")
    assert provider.lookup(PHONE, "not-sent", datetime.now(SERVICE_TZ).date()) is None
