"""The SMS port, its message templates, and the dev adapter that writes to the sms_outbox table."""

from __future__ import annotations

import logging
from typing import Protocol

from cloud_bridge.contract.messages import mask_phone

from .db import Database
from .models import SmsOutboxRow

log = logging.getLogger(__name__)

# One template per kind, Chinese then English; fields are filled with str.format.
TEMPLATES: dict[str, str] = {
    "accepted": "【自助服务】您的申请{application_no}已受理。"
    " / Your application {application_no} has been accepted.",
    "approved": "【自助服务】您的申请{application_no}已办结，结果将放入自助柜，取件码另行通知。"
    " / Application {application_no} is approved; a pickup code will follow.",
    "rejected": "【自助服务】您的申请{application_no}未通过：{note}"
    " / Application {application_no} was not approved: {note}",
    "supplement_requested": "【自助服务】您的申请{application_no}需补正材料：{note}"
    " / Application {application_no} needs more materials: {note}",
    "pickup_code": "【自助服务】申请{application_no}的结果已放入{terminal_id}号自助柜，"
    "取件码{code}，{expires}前有效。请勿告诉他人。"
    " / Your result for {application_no} is in locker terminal {terminal_id}. "
    "Pickup code {code}, valid until {expires} Beijing time. Do not share it.",
    "picked_up": "【自助服务】申请{application_no}的结果已取走。如非本人操作请致电服务窗口。"
    " / The result for {application_no} was picked up. If this was not you, call the office.",
    "returned": "【自助服务】申请{application_no}的结果已撤回窗口，请到窗口领取。"
    " / The result for {application_no} was taken back to the office; collect it there.",
}


class SmsSender(Protocol):
    """Sends one text message to an applicant's phone."""

    def send(self, phone: str, text: str, kind: str) -> None: ...


def render(kind: str, **fields: str) -> str:
    """The text of an SMS of `kind`; KeyError for an unknown kind."""
    return TEMPLATES[kind].format(**fields)


class OutboxSms:
    """Dev adapter: 'sends' by writing the sms_outbox table, the demo's stand-in for a handset."""

    def __init__(self, db: Database):
        self.db = db

    def send(self, phone: str, text: str, kind: str) -> None:
        """Store the message and log the send with the phone masked and no text (codes!)."""
        with self.db.transaction() as session:
            session.add(SmsOutboxRow(phone=phone, text=text, kind=kind))
        log.info("sms %s sent to %s", kind, mask_phone(phone))
