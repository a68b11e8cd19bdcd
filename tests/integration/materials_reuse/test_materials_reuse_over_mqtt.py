"""Reuse of materials on file and tolerated materials, end to end over a real Mosquitto.

The real backend (in this process, SQLite) and a terminal node on emulated devices talk only
MQTT 5 through a private broker; one clock drives both, so validity and due dates are exact.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from enrolled_terminal import enrolled_for
from sqlalchemy import func, select

from allhours.bootstrap import training_terminal
from allhours.broker import PrivateMosquitto
from allhours.settings import LinkSettings as LinkSection
from allhours.wiring import EmulatedDevices
from backend.enrollment import worker_identity
from backend.models import Application, Blob, ProcessedMessage, ReuseQueryLog
from backend.queries import application_detail
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.link import wait_until
from devices.identity.port import IdentityDocument
from terminal.flows.submission import SubmissionFlow
from terminal.node import TerminalNode

pytestmark = pytest.mark.broker

T = "T0001"
ZHANG = IdentityDocument(
    document_type="cn_resident_id",
    name="张三",
    number="11010519491231002X",
    expiry_date=date(2036, 3, 1),
)
LI = IdentityDocument(
    document_type="cn_resident_id",
    name="李四",
    number="110105198001010011",
    expiry_date=date(2031, 1, 1),
)


class SharedClock:
    """The one clock of terminal and backend, set by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class ReuseSite:
    broker: PrivateMosquitto
    backend: BackendService
    node: TerminalNode
    devices: EmulatedDevices
    clock: SharedClock

    def walk_to_materials(self, document: IdentityDocument, item: str) -> SubmissionFlow:
        self.devices.reader.place(document)
        flow = self.node.submission()
        flow.read_identity()
        flow.verify_face()
        flow.choose_item(item)
        flow.enter_phone("13800138000")
        return flow

    def detail(self, no: str) -> dict | None:
        with self.backend.db.transaction() as s:
            if s.get(Application, no) is None:
                return None
            return application_detail(s, no)

    def wait_ingested(self, no: str, materials: int) -> dict:
        def done():
            d = self.detail(no)
            ok = (
                d
                and len(d["materials"]) == materials
                and all(x["verified"] for x in d["materials"])
            )
            return d if ok else None

        detail = wait_until(done, 30, 0.1)
        assert detail, f"{no} not ingested with {materials} verified materials"
        return detail

    def blobs_held(self) -> int:
        with self.backend.db.transaction() as s:
            return s.scalar(select(func.count()).select_from(Blob)) or 0

    def chunks_received(self) -> int:
        with self.backend.db.transaction() as s:
            query = select(func.count()).where(ProcessedMessage.type == "blob.chunk")
            return s.scalar(query) or 0

    def outbox_event(self, no: str) -> m.ApplicationSubmitted:
        rows = self.node.db.read("SELECT payload FROM outbox WHERE kind = 'message'")
        events = [m.decode(p) for (p,) in rows]
        [event] = [
            e for e in events if isinstance(e, m.ApplicationSubmitted) and e.application_no == no
        ]
        return event


@pytest.fixture
def site(broker: PrivateMosquitto, tmp_path: Path) -> Iterator[ReuseSite]:
    clock = SharedClock(datetime(2026, 11, 20, 13, 30, tzinfo=UTC))
    backend = BackendService(
        f"sqlite:///{tmp_path / 'backend.sqlite'}",
        tmp_path / "backend-blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.reuse",
        credentials=worker_identity(broker.authority, "backend.reuse"),
        shared_group=None,
        clock=clock,
    )
    key = secrets.token_bytes(32)  # what an enrollment bundle carries
    backend.register_terminal(T, key)
    devices = EmulatedDevices()
    data_dir = enrolled_for(
        broker, tmp_path / T, T, pickup_code_key=key, applicant_key=backend.applicant_key
    )
    link = LinkSection(telemetry_interval_s=600, request_timeout_s=2)
    node = training_terminal(data_dir, devices=devices, clock=clock, link=link).node
    try:
        backend.start()
        assert backend.mqtt and backend.mqtt.wait_ready(10)
        node.start()
        assert node.link.wait_connected(10)
        assert node.link.responses_granted.wait(5)
        yield ReuseSite(broker, backend, node, devices, clock)
    finally:
        node.stop()
        backend.stop()


def _submit_household_certificate(site: ReuseSite, doc: IdentityDocument) -> str:
    flow = site.walk_to_materials(doc, "HJ-0101")
    assert flow.offer_reuse() == []
    flow.scan_material("id-card-copy")
    flow.scan_material("household-register")
    flow.finish_materials()
    flow.skip_deposit()
    return flow.submit().application_no


def test_a_second_submission_reuses_the_id_card_copy_without_uploading_it_again(
    site: ReuseSite,
):
    # May: the first application. The household register is good for 6 months, so it has
    # expired by November; the ID card copy is good until the card expires in 2036.
    site.clock.now = datetime(2026, 5, 8, 13, 30, tzinfo=UTC)
    first = _submit_household_certificate(site, ZHANG)
    held = site.wait_ingested(first, 2)
    site.backend.desk.step(first, "accept", "clerk")
    assert wait_until(lambda: site.node.outbox.backlog() == 0, 10)
    assert site.blobs_held() == 2
    chunks_before = site.chunks_received()
    id_copy = next(x for x in held["materials"] if x["material_code"] == "id-card-copy")

    site.clock.now = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)
    flow = site.walk_to_materials(ZHANG, "HJ-0101")
    offers = flow.offer_reuse()

    assert [(o.material_code, o.valid_until) for o in offers] == [
        ("id-card-copy", date(2036, 3, 1))
    ]
    assert offers[0].captured_on == date(2026, 5, 8)
    flow.reuse_material("id-card-copy")
    scanned = flow.scan_material("household-register")
    flow.finish_materials()
    flow.skip_deposit()
    receipt = flow.submit()

    assert receipt.reused == 1
    event = site.outbox_event(receipt.application_no)
    assert [x.material_code for x in event.materials] == ["household-register"]
    assert [(r.material_code, r.reference) for r in event.reused_materials] == [
        ("id-card-copy", offers[0].reference)
    ]
    assert scanned.blob.sha256 != id_copy["sha256"]

    second = site.wait_ingested(receipt.application_no, 2)
    reused = next(x for x in second["materials"] if x["material_code"] == "id-card-copy")
    assert reused["reused"] is True and reused["sha256"] == id_copy["sha256"]
    # Only the register's chunks crossed the wire; the ID copy was never sent again.
    assert wait_until(lambda: site.node.outbox.backlog() == 0, 10)
    assert site.chunks_received() - chunks_before == scanned.blob.chunk_count
    old_register = next(x for x in held["materials"] if x["material_code"] != "id-card-copy")
    assert site.blobs_held() == 2 + (scanned.blob.sha256 != old_register["sha256"])
    stored = site.backend.blobs.path_for(reused["sha256"]).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == reused["sha256"]

    # Another citizen at the same terminal is offered nothing, by a real (empty) answer.
    answered = site.node.on_file.answered
    other = site.walk_to_materials(LI, "HJ-0101")
    assert other.offer_reuse() == []
    assert site.node.on_file.answered == answered + 1
    other.cancel()
    with site.backend.db.transaction() as s:
        offered = [q.offered for q in s.scalars(select(ReuseQueryLog).order_by(ReuseQueryLog.id))]
    assert offered == [0, 1, 0]


def test_offline_nothing_is_offered_and_the_submission_still_works(site: ReuseSite):
    site.clock.now = datetime(2026, 5, 8, 13, 30, tzinfo=UTC)
    first = _submit_household_certificate(site, ZHANG)
    site.wait_ingested(first, 2)
    site.backend.desk.step(first, "accept", "clerk")

    site.backend.stop()  # the broker is up, nobody answers
    flow = site.walk_to_materials(ZHANG, "SB-0203")
    assert flow.offer_reuse() == []
    assert site.node.on_file.unanswered == 1

    site.broker.stop()  # and now the link itself is down
    assert wait_until(lambda: not site.node.link.connected.is_set(), 10)
    assert flow.offer_reuse() == []
    assert site.node.on_file.unanswered == 2
    with pytest.raises(Exception, match="Copy of ID card"):
        flow.reuse_material("id-card-copy")
    flow.scan_material("id-card-copy")
    flow.finish_materials()
    receipt = flow.submit()

    assert receipt.sent_now is False and receipt.reused == 0
    event = site.outbox_event(receipt.application_no)
    assert [x.material_code for x in event.materials] == ["id-card-copy"]
    assert event.reused_materials == []
    assert site.node.outbox.backlog() > 0  # waiting for the link, nothing lost


def test_a_tolerated_material_gets_its_due_date_across_a_holiday_and_a_weekend(site: ReuseSite):
    # Thursday 24 September 2026, 21:30 in Beijing, the evening before the Mid-Autumn holiday.
    site.clock.now = datetime(2026, 9, 24, 13, 30, tzinfo=UTC)
    flow = site.walk_to_materials(ZHANG, "GS-0307")
    assert flow.offer_reuse() == []
    for code in ("id-card-copy", "application-form", "licence-original"):
        flow.scan_material(code)
    assert flow.missing_materials() == ["lease"]
    assert flow.tolerate_material("lease") == 5
    flow.finish_materials()
    flow.skip_deposit()
    receipt = flow.submit()

    assert [(o.code, o.working_days) for o in receipt.owed] == [("lease", 5)]
    detail = site.wait_ingested(receipt.application_no, 3)
    [owed] = detail["supplements"]
    # 28, 29, 30 September, then the National Day week, then 8 and 9 October.
    assert (owed["material_code"], owed["reason"], owed["due_on"]) == (
        "lease",
        "tolerated",
        date(2026, 10, 9),
    )
