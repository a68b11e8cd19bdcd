"""Alibaba Cloud SMS (Dysmsapi 2017-05-25): SendSms and QuerySendDetails, RPC-signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from cloud_bridge.contract.messages import SERVICE_TZ

from ..sms import (
    Accepted,
    Action,
    DeliveryReport,
    ProviderRefused,
    ProviderUnreachable,
    SmsRequest,
)
from .templates import TemplateTable

API_VERSION = "2017-05-25"
DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com/"

# What each documented error code means for us. Unknown codes count as alarms: hold and tell.
ACTIONS: dict[str, Action] = {
    "isv.BUSINESS_LIMIT_CONTROL": Action.RETRY,  # per-number flow control: later is fine
    "isv.SYSTEM_ERROR": Action.RETRY,
    "isp.SYSTEM_ERROR": Action.RETRY,
    "ServiceUnavailable": Action.RETRY,
    "Throttling": Action.RETRY,
    "Throttling.User": Action.RETRY,
    "isv.MOBILE_NUMBER_ILLEGAL": Action.GIVE_UP,  # not a mobile number: staff must call
    "isv.MOBILE_COUNT_OVER_LIMIT": Action.GIVE_UP,
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": Action.GIVE_UP,
    "isv.SMS_SIGNATURE_ILLEGAL": Action.ALARM,  # our 签名 is not registered or approved
    "isv.SMS_SIGN_ILLEGAL": Action.ALARM,
    "isv.SMS_TEMPLATE_ILLEGAL": Action.ALARM,  # our template id is not registered or approved
    "isv.TEMPLATE_MISSING_PARAMETERS": Action.ALARM,
    "isv.TEMPLATE_PARAMS_ILLEGAL": Action.ALARM,
    "isv.INVALID_PARAMETERS": Action.ALARM,
    "isv.INVALID_JSON_PARAM": Action.ALARM,
    "isv.PARAM_LENGTH_LIMIT": Action.ALARM,
    "isv.BLACK_KEY_CONTROL_LIMIT": Action.ALARM,
    "isv.AMOUNT_NOT_ENOUGH": Action.ALARM,  # the account ran dry
    "isv.OUT_OF_SERVICE": Action.ALARM,
    "isv.DAY_LIMIT_CONTROL": Action.ALARM,  # the account's daily cap in the console
    "isv.ACCOUNT_NOT_EXISTS": Action.ALARM,
    "isv.ACCOUNT_ABNORMAL": Action.ALARM,
    "isp.RAM_PERMISSION_DENY": Action.ALARM,
    "SignatureDoesNotMatch": Action.ALARM,
    "InvalidAccessKeyId.NotFound": Action.ALARM,
    "SignatureNonceUsed": Action.RETRY,
    "InvalidTimeStamp.Expired": Action.RETRY,  # our clock: a fresh timestamp may pass
}


def action_for(code: str) -> Action:
    """Retry, give up or alarm for a provider error code."""
    return ACTIONS.get(code, Action.ALARM)


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8, as the signature mechanism specifies (space is %20)."""
    return quote(value, safe="-_.~")


def canonical_query(params: dict[str, str]) -> str:
    """Parameters sorted by name, each name and value percent-encoded, joined with &."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def string_to_sign(method: str, params: dict[str, str]) -> str:
    """HTTPMethod & percentEncode("/") & percentEncode(canonical query)."""
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def sign(access_key_secret: str, method: str, params: dict[str, str]) -> str:
    """Base64(HMAC-SHA1(secret + "&", StringToSign)) over every parameter but Signature."""
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    mac = hmac.new(
        (access_key_secret + "&").encode(), string_to_sign(method, unsigned).encode(), hashlib.sha1
    )
    return base64.b64encode(mac.digest()).decode()


@dataclass(frozen=True)
class AliyunSettings:
    """The account, endpoint and registered templates; typed configuration."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    table: TemplateTable
    endpoint: str = DEFAULT_ENDPOINT
    region_id: str = "cn-hangzhou"
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0


_MAX_PAGES = 20  # of QuerySendDetails, 50 entries each, for one number and day


class AliyunSms:
    """The SmsProvider port over the Alibaba Cloud SMS RPC API."""

    name = "aliyun"

    def __init__(self, settings: AliyunSettings, clock: Callable[[], datetime] | None = None):
        self.settings = settings
        self.table = settings.table
        self.clock = clock or (lambda: datetime.now(UTC))
        timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
        self._http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def send(self, request: SmsRequest) -> Accepted:
        """SendSms; Accepted, or ProviderRefused / ProviderUnreachable."""
        answer = self._call(
            "SendSms",
            {
                "PhoneNumbers": request.phone,
                "SignName": self.table.sign_name,
                "TemplateCode": request.template_code,
                "TemplateParam": json.dumps(request.params, ensure_ascii=False),
                "OutId": request.out_id,
            },
            sending=True,
        )
        return Accepted(biz_id=str(answer.get("BizId", "")))

    def lookup(self, phone: str, out_id: str, sent_on: date) -> DeliveryReport | None:
        """QuerySendDetails for `phone` on `sent_on`, the entry with OutId `out_id`."""
        page = 1
        while page <= _MAX_PAGES:
            answer = self._call(
                "QuerySendDetails",
                {
                    "PhoneNumber": phone,
                    "SendDate": f"{sent_on:%Y%m%d}",
                    "PageSize": "50",
                    "CurrentPage": str(page),
                },
                sending=False,
            )
            try:
                details = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
                for d in details:
                    if d.get("OutId") == out_id:
                        return _report(d)
                if page * 50 >= int(answer.get("TotalCount") or 0) or not details:
                    return None
            except (AttributeError, TypeError, ValueError, OverflowError):
                # Fields of the wrong type or form (1e999 is a float JSON cannot hold as an
                # int): asked again on the next pass.
                raise ProviderUnreachable(
                    "QuerySendDetails: an answer not as documented", False
                ) from None
            page += 1
        # The provider lets a number get 50 notifications a day (one page): pages past these
        # are a provider gone wrong, and paging on might never end.
        raise ProviderUnreachable(f"QuerySendDetails: over {_MAX_PAGES} pages for one day", False)

    def _call(self, action: str, specific: dict[str, str], *, sending: bool) -> dict[str, Any]:
        s = self.settings
        params = {
            "AccessKeyId": s.access_key_id,
            "Action": action,
            "Format": "JSON",
            "RegionId": s.region_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": f"{self.clock().astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "Version": API_VERSION,
            **specific,
        }
        params["Signature"] = sign(s.access_key_secret, "POST", params)
        try:
            response = self._http.post(s.endpoint, data=params)
        except httpx.TimeoutException as exc:
            # A read timeout after the request left may still have sent the message.
            raise ProviderUnreachable(f"{action}: {type(exc).__name__}", sending) from None
        except httpx.TransportError as exc:
            raise ProviderUnreachable(f"{action}: {type(exc).__name__}", False) from None
        try:
            body = response.json()
            code = str(body["Code"])
        except (ValueError, KeyError, TypeError, RecursionError):
            # Not the API's answer: a gateway's error page, a body cut short, or JSON nested
            # thousands deep (json recurses). The call reached something, so a send may have
            # been taken: it is looked up before it goes again.
            raise ProviderUnreachable(
                f"{action}: HTTP {response.status_code}, not the API's answer", sending
            ) from None
        if code != "OK":
            raise ProviderRefused(code, str(body.get("Message", "")), action_for(code))
        return body


def _report(detail: dict[str, Any]) -> DeliveryReport:
    # SendStatus: 1 waiting for the handset's receipt, 2 failed, 3 delivered.
    status = {3: "delivered", 2: "undelivered"}.get(int(detail.get("SendStatus", 1)), "pending")
    received = None
    if detail.get("ReceiveDate"):
        received = datetime.strptime(detail["ReceiveDate"], "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=SERVICE_TZ
        )
    return DeliveryReport(status, str(detail.get("ErrCode", "")), received)
