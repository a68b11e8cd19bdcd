"""Alibaba Cloud SMS on loopback: the same RPC API, signature checks, codes and flow control.

It holds the registered signature and templates, refuses what the real service refuses with the
documented codes, keeps what it "delivered" per handset, and can be made slow or down.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cloud_bridge.contract.messages import SERVICE_TZ
from privacy import mask_phone

from .aliyun import API_VERSION, AliyunSettings, AliyunSms, sign
from .templates import DEFAULT_TABLE, TemplateTable, render

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_TIMESTAMP_SKEW = timedelta(minutes=15)
# The service's flow control for notification templates (短信通知), which every template here
# is: one signature, one template, one number, 50 messages in any 24 hours. The 1/min, 5/h,
# 10/day per signature are for verification-code templates (one variable only), not these.
FLOW_WINDOW, FLOW_LIMIT = timedelta(days=1), 50
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class ReceivedSms:
    """A message the emulated service accepted: what the handset shows."""

    phone: str
    text: str
    template_code: str
    out_id: str
    biz_id: str
    at: datetime

    def __repr__(self) -> str:  # the text may hold a pickup code
        return f"ReceivedSms({mask_phone(self.phone)}, {self.template_code}, {self.biz_id})"


class AliyunSmsEmulator:
    """start(); point AliyunSms at `endpoint`; `inbox(phone)` reads the handset; stop()."""

    def __init__(
        self,
        *,
        access_key_id: str = "LTAI-allhours-test",
        access_key_secret: str = "allhours-test-secret",
        table: TemplateTable = DEFAULT_TABLE,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.access_keys = {access_key_id: access_key_secret}
        self.table = table
        self.clock = clock or (lambda: datetime.now(UTC))
        self.templates = {t.template_code: t for t in table.templates.values()}
        self.down = False  # drop every connection without an answer
        self.delay_s = 0.0  # answer this late (the message is taken before the wait)
        # (HTTP status, body) sent back instead of the answer, as a gateway or proxy between
        # may: the call itself is served (a SendSms is taken), its answer never arrives.
        self.mangled: tuple[int, bytes] | None = None
        self.fail_next: list[str] = []  # error codes for the next SendSms calls
        self.unreachable: set[str] = set()  # numbers whose handset never reports delivery
        self.received: list[ReceivedSms] = []
        self.calls = 0
        self._nonces: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> AliyunSmsEmulator:
        """Listen on a free loopback port and serve."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="aliyun-sms-emu"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wait for answers in flight, close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> AliyunSmsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inbox(self, phone: str) -> list[ReceivedSms]:
        """What the handset `phone` received, oldest first."""
        with self._lock:
            return [r for r in self.received if r.phone == phone]

    # ------------------------------------------------------------ the service

    def answer(self, method: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one signed call."""
        request_id = f"{time.monotonic_ns():X}"
        refused = self._authenticate(method, params)
        if refused:
            status, code, message = refused
            return status, {"RequestId": request_id, "Code": code, "Message": message}
        with self._lock:
            self.calls += 1
            if params.get("Action") == "SendSms":
                body = self._send(params)
            elif params.get("Action") == "QuerySendDetails":
                body = self._query(params)
            else:
                return 404, {"RequestId": request_id, "Code": "InvalidAction.NotFound",
                             "Message": "Specified api is not found"}  # fmt: skip
        return 200, {"RequestId": request_id, **body}

    def _authenticate(self, method: str, p: dict[str, str]) -> tuple[int, str, str] | None:
        required = ("AccessKeyId", "Action", "Signature", "SignatureMethod", "SignatureNonce",
                    "SignatureVersion", "Timestamp", "Version")  # fmt: skip
        missing = [k for k in required if not p.get(k)]
        if missing:
            return 400, "MissingParameter", f"missing {missing[0]}"
        secret = self.access_keys.get(p["AccessKeyId"])
        if secret is None:
            return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        if p["SignatureMethod"] != "HMAC-SHA1" or p["SignatureVersion"] != "1.0":
            return 400, "InvalidParameter", "SignatureMethod or SignatureVersion"
        if p["Version"] != API_VERSION:
            return 400, "InvalidVersion", "Specified parameter Version is not valid."
        if sign(secret, method, p) != p["Signature"]:
            return 400, "SignatureDoesNotMatch", "Specified signature is not matched."
        try:
            at = datetime.strptime(p["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return 400, "InvalidTimeStamp.Format", "Specified time stamp is not valid."
        if abs(self.clock() - at) > _TIMESTAMP_SKEW:
            return 400, "InvalidTimeStamp.Expired", "Specified time stamp is expired."
        with self._lock:
            if p["SignatureNonce"] in self._nonces:
                return 400, "SignatureNonceUsed", "Specified signature nonce was used already."
            self._nonces.add(p["SignatureNonce"])
        return None

    def _send(self, p: dict[str, str]) -> dict[str, Any]:
        def refuse(code: str, message: str) -> dict[str, Any]:
            return {"Code": code, "Message": message}

        if self.fail_next:
            return refuse(self.fail_next.pop(0), "injected")
        phone = p.get("PhoneNumbers", "")
        if not _MOBILE.match(phone):
            return refuse("isv.MOBILE_NUMBER_ILLEGAL", "invalid mobile number")
        if p.get("SignName") != self.table.sign_name:
            return refuse("isv.SMS_SIGNATURE_ILLEGAL", "signature not registered")
        template = self.templates.get(p.get("TemplateCode", ""))
        if template is None:
            return refuse("isv.SMS_TEMPLATE_ILLEGAL", "template not registered")
        try:
            values = json.loads(p.get("TemplateParam") or "{}")
        except ValueError:
            return refuse("isv.INVALID_JSON_PARAM", "TemplateParam is not JSON")
        if not isinstance(values, dict) or set(values) != set(template.variables):
            return refuse("isv.TEMPLATE_MISSING_PARAMETERS", "template variables do not match")
        now = self.clock()
        code = template.template_code
        recent = sum(
            r.phone == phone and r.template_code == code and now - r.at < FLOW_WINDOW
            for r in self.received
        )
        if recent >= FLOW_LIMIT:
            return refuse("isv.BUSINESS_LIMIT_CONTROL", f"触发天级流控Permits:{FLOW_LIMIT}")
        biz_id = f"{int(now.timestamp() * 1000)}{len(self.received):06d}^0"
        text = render(template, self.table.sign_name, {k: str(v) for k, v in values.items()})
        self.received.append(
            ReceivedSms(phone, text, template.template_code, p.get("OutId", ""), biz_id, now)
        )
        return {"Code": "OK", "Message": "OK", "BizId": biz_id}

    def _query(self, p: dict[str, str]) -> dict[str, Any]:
        phone, day = p.get("PhoneNumber", ""), p.get("SendDate", "")
        size = max(1, min(50, int(p.get("PageSize") or 10)))
        page = max(1, int(p.get("CurrentPage") or 1))
        mine = [r for r in self.received if r.phone == phone
                and f"{r.at.astimezone(SERVICE_TZ):%Y%m%d}" == day
                and (not p.get("BizId") or r.biz_id == p["BizId"])]  # fmt: skip
        chunk = mine[(page - 1) * size : page * size]
        return {
            "Code": "OK",
            "Message": "OK",
            "TotalCount": len(mine),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": [self._detail(r) for r in chunk]},
        }

    def _detail(self, r: ReceivedSms) -> dict[str, Any]:
        failed = r.phone in self.unreachable
        return {
            "PhoneNum": r.phone,
            "SendStatus": 2 if failed else 3,
            "ErrCode": "MOBILE_NOT_ON_SERVICE" if failed else "DELIVERED",
            "TemplateCode": r.template_code,
            "Content": r.text,
            "SendDate": f"{r.at.astimezone(SERVICE_TZ):%Y-%m-%d %H:%M:%S}",
            "ReceiveDate": "" if failed else f"{r.at.astimezone(SERVICE_TZ):%Y-%m-%d %H:%M:%S}",
            "OutId": r.out_id,
        }


def _handler_for(emulator: AliyunSmsEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: nothing outlives stop()

        def do_GET(self) -> None:
            self._serve("GET", urlsplit(self.path).query)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"Code": "RequestTooLarge", "Message": "body too large"})
                return
            self._serve("POST", self.rfile.read(length).decode("utf-8", "replace"))

        def _serve(self, method: str, query: str) -> None:
            if emulator.down:
                self.close_connection = True
                return  # no status line: the caller sees the connection drop
            status, body = emulator.answer(method, dict(parse_qsl(query, keep_blank_values=True)))
            if emulator.delay_s:
                time.sleep(emulator.delay_s)
            if emulator.mangled is not None:
                self._write(*emulator.mangled)
                return
            self._reply(status, body)

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            self._write(status, json.dumps(body, ensure_ascii=False).encode())

        def _write(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines carry phone numbers

    return Handler


def emulated_aliyun(emulator: AliyunSmsEmulator) -> AliyunSms:
    """The real adapter, pointed at a started emulator with its account and templates."""
    ((key_id, secret),) = emulator.access_keys.items()
    return AliyunSms(AliyunSettings(key_id, secret, emulator.table, endpoint=emulator.endpoint))
