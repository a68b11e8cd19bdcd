"""Deadline notices to staff by SMS and e-mail, as each person chooses on the notices page: the
SMS through the notifications outbox (a registered template), the e-mail over SMTP to a real
loopback server (aiosmtpd); at most one per person, case, step, level and colour; a refused or
failed e-mail waits and is sent later, never dropped."""

from __future__ import annotations

import email
import socket
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from console_cases import KEY, PASSWORD, csrf_of, sign_in, submit
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.escalations import Escalations, EscalationSettings
from backend.models import StaffAccount, StaffEmail, StaffNotice
from backend.notifications.email import Mailer, SmtpSettings
from backend.notifications.models import NotificationRow
from backend.notifications.staff import ChannelError, set_channels
from backend.service import BackendService
from backend.workdays import CN_OFFICIAL

NO = "AH-T0001-20261120-0001"  # submitted 20 November: every step long overdue (red)
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    submit(svc, NO)
    accounts = Accounts(svc.db)
    for name, roles in (
        ("clerk.li", ["clerk"]),
        ("clerk.wang", ["clerk"]),
        ("sup.ma", ["supervisor"]),
    ):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


class Inbox:
    """An aiosmtpd handler: keeps what it accepts, or refuses every message while `refuse`."""

    def __init__(self):
        self.received: list[email.message.Message] = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 4.3.0 mailbox busy, try again later"
        self.received.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def choose(client, **fields):
    page = client.get("/console/notices").text
    return client.post(
        "/console/notices/channels",
        data={"csrf_token": csrf_of(page), **fields},
        follow_redirects=False,
    )


def staff(service, username: str) -> StaffAccount:
    with service.db.transaction() as session:
        row = session.scalar(select(StaffAccount).where(StaffAccount.username == username))
        session.expunge(row)
        return row


def test_each_person_chooses_their_channels_and_bad_ones_are_refused(service):
    app = create_app(service)
    with TestClient(app) as client:
        anonymous = client.post("/console/notices/channels", data={"phone": "13900000000"})
        assert anonymous.status_code in (303, 401)
        sign_in(client, "clerk.li")
        no_token = client.post(
            "/console/notices/channels", data={"phone": "13900000000"}, follow_redirects=False
        )
        assert no_token.status_code == 403
        for bad, why in (
            ({"phone": "139-0000", "notify_by": ["sms"]}, "手机号码应为 6 至 15 位数字"),
            ({"notify_by": ["sms"]}, "短信提醒需要填写手机号码"),
            ({"email": "li at example", "notify_by": ["email"]}, "请填写一个电子邮箱地址"),
            ({"notify_by": ["email"]}, "邮件提醒需要填写电子邮箱"),
            ({"phone": "13900000000", "notify_by": ["fax"]}, "请选择短信、电子邮件"),
            ({"phone": "13900000000", "notify_by": ["sms", "sms"]}, "请选择短信、电子邮件"),
        ):
            r = choose(client, **bad)
            assert r.status_code == 422 and why in r.text, bad
        assert staff(service, "clerk.li").notify_by == []
        ok = choose(
            client,
            phone="13900000001",
            email="li@zwfw.example.gov.cn",
            notify_by=["sms", "email"],
        )
        assert ok.status_code == 303
        page = client.get("/console/notices").text
        assert 'value="13900000001"' in page and "checked" in page
    li = staff(service, "clerk.li")
    assert (li.phone, li.email, li.notify_by) == (
        "13900000001",
        "li@zwfw.example.gov.cn",
        ["email", "sms"],
    )


def test_notices_go_by_sms_and_email_once_and_a_failed_email_is_sent_later(service):
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        choose(
            client, phone="13900000001", email="li@zwfw.example.gov.cn", notify_by=["sms", "email"]
        )
    with TestClient(create_app(service)) as client:
        sign_in(client, "sup.ma")
        choose(client, phone="13900000009", notify_by=["sms"])
    # clerk.wang chose nothing: the console only.
    job = Escalations(service.db, CN_OFFICIAL, EscalationSettings(timedelta(hours=4)))
    assert job.run(NOW).raised == 1
    assert job.run(NOW + timedelta(minutes=5)).raised == 0

    wang = staff(service, "clerk.wang").id
    with service.db.transaction() as session:
        sms = session.scalars(
            select(NotificationRow).where(NotificationRow.kind.like("staff_%"))
        ).all()
        assert [(x.kind, x.phone) for x in sms] == [("staff_deadline", "13900000001")]
        assert sms[0].params == {"no": NO, "step": "受理", "colour": "已超2个工作日"}
        emails = session.scalars(select(StaffEmail)).all()
        assert [(e.to_address, e.step, e.state) for e in emails] == [
            ("li@zwfw.example.gov.cn", "accept", "queued")
        ]
        assert session.scalar(select(StaffNotice).where(StaffNotice.staff_id == wang))

    port = free_port()
    settings = SmtpSettings(
        host="127.0.0.1", port=port, sender="allhours@zwfw.example.gov.cn", timeout_s=5
    )
    mailer = Mailer(service.db, settings)
    # No server listening: nothing sent, the e-mail waits for its next attempt.
    assert mailer.drain(NOW) == 0
    with service.db.transaction() as session:
        row = session.scalars(select(StaffEmail)).one()
        assert (row.state, row.attempts) == ("queued", 1) and row.last_error
        assert row.next_attempt_at > NOW
    assert mailer.drain(NOW + timedelta(seconds=10)) == 0  # not due yet: not tried

    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        inbox.refuse = True  # the relay refuses for a while: still kept
        assert mailer.drain(NOW + timedelta(minutes=2)) == 0
        with service.db.transaction() as session:
            row = session.scalars(select(StaffEmail)).one()
            assert (row.state, row.attempts, row.last_error) == ("queued", 2, "SMTP 451")
        inbox.refuse = False
        assert mailer.drain(NOW + timedelta(minutes=10)) == 1
        assert mailer.drain(NOW + timedelta(hours=2)) == 0  # sent once
    finally:
        server.stop()
    [message] = inbox.received
    assert message["To"] == "li@zwfw.example.gov.cn"
    assert message["From"] == "allhours@zwfw.example.gov.cn"
    assert NO in message["Subject"] and "受理" in message["Subject"]
    body = message.get_content()
    assert f"/console/applications/{NO}" in body and "2 or more working days overdue" in body
    with service.db.transaction() as session:
        row = session.scalars(select(StaffEmail)).one()
        assert (row.state, row.attempts, row.last_error) == ("sent", 3, "")

    # Nobody acts for 4 hours: the supervisor is told by SMS too, once.
    assert job.run(NOW + timedelta(hours=4, minutes=1)).to_supervisor == 1
    assert job.run(NOW + timedelta(hours=5)).to_supervisor == 0
    with service.db.transaction() as session:
        sms = session.scalars(
            select(NotificationRow).where(NotificationRow.kind == "staff_supervise")
        ).all()
        assert [(x.phone, x.params["step"]) for x in sms] == [("13900000009", "受理")]
        assert len(session.scalars(select(StaffEmail)).all()) == 1


def test_a_mornings_warnings_for_many_cases_are_one_text_naming_the_first(service):
    for n in range(2, 6):
        submit(service, f"AH-T0001-20261120-{n:04d}")
    with TestClient(create_app(service)) as client:
        sign_in(client, "clerk.li")
        choose(client, phone="13900000001", notify_by=["sms"])
    job = Escalations(service.db, CN_OFFICIAL, EscalationSettings(timedelta(hours=4)))
    assert job.run(NOW).raised == 5

    with service.db.transaction() as session:
        [sms] = session.scalars(
            select(NotificationRow).where(NotificationRow.kind == "staff_deadline")
        ).all()
        assert sms.params == {"no": f"{NO}等5件", "step": "受理", "colour": "已超2个工作日"}
        assert session.scalar(select(StaffNotice).where(StaffNotice.application_no != NO))


def test_smtp_settings_come_from_the_environment(tmp_path):
    assert SmtpSettings.from_env({}) is None
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    s = SmtpSettings.from_env(
        {
            "ALLHOURS_SMTP_HOST": "relay.zwfw.example.gov.cn",
            "ALLHOURS_SMTP_PORT": "587",
            "ALLHOURS_SMTP_FROM": "allhours@zwfw.example.gov.cn",
            "ALLHOURS_SMTP_STARTTLS": "1",
            "ALLHOURS_SMTP_USER": "allhours",
            "ALLHOURS_SMTP_PASSWORD_FILE": str(secret),
            "ALLHOURS_CONSOLE_URL": "https://console.zwfw.example.gov.cn/",
        }
    )
    assert (s.host, s.port, s.starttls, s.username, s.password) == (
        "relay.zwfw.example.gov.cn",
        587,
        True,
        "allhours",
        "s3cret",
    )
    assert s.console_url == "https://console.zwfw.example.gov.cn" and "s3cret" not in repr(s)


def test_a_phone_or_address_with_a_final_newline_is_refused(service):
    # The patterns end in `$`, which matched before a final newline too.
    li = staff(service, "clerk.li")
    for phone, address in (("13900000000\n", None), (None, "li@zwfw.example.gov.cn\n")):
        with service.db.transaction() as session, pytest.raises(ChannelError):
            set_channels(session, li.id, phone, address, ["sms" if phone else "email"])
