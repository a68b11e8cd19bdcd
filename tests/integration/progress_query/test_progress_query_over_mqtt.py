"""Progress queries and ratings between a terminal node and the real backend over Mosquitto.

A submission made through the terminal's own flow reaches the backend; another terminal asks
its progress through the broker; ratings travel through the outbox and are stored once.
"""

from __future__ import annotations

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
from backend.models import Application, ProcessedMessage, ServiceRating, StatusQueryLog
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.link import wait_until
from devices.identity.port import IdentityDocument
from terminal.node import TerminalNode

pytestmark = pytest.mark.broker

ZHANG = IdentityDocument(
    document_type="cn_resident_id",
    name="张三",
    number="11010519491231002X",
    expiry_date=date(2036, 3, 1),
)
PHONE = "13800138000"


@dataclass
class Site:
    broker: PrivateMosquitto
    backend: BackendService
    here: TerminalNode  # where the citizen submitted
    there: TerminalNode  # another terminal of the fleet
    devices: EmulatedDevices

    def submit(self) -> str:
        self.devices.reader.place(ZHANG)
        flow = self.here.submission()
        flow.read_identity()
        flow.verify_face()
        flow.choose_item("HJ-0101")
        flow.enter_phone(PHONE)
        for code in ("id-card-copy", "household-register"):
            flow.scan_material(code)
        flow.finish_materials()
        flow.skip_deposit()
        no = flow.submit().application_no
        assert wait_until(lambda: self.application(no), 30, 0.1), f"{no} never reached the backend"
        return no

    def application(self, no: str) -> Application | None:
        with self.backend.db.transaction() as s:
            return s.get(Application, no)

    def count(self, query) -> int:
        with self.backend.db.transaction() as s:
            return s.scalar(query) or 0


def _node(tid: str, data: Path, devices: EmulatedDevices, broker, key, backend) -> TerminalNode:
    """A training terminal enrolled at the broker's site, with the fleet's applicant key."""
    enrolled_for(broker, data, tid, pickup_code_key=key, applicant_key=backend.applicant_key)
    return training_terminal(data, devices=devices, link=LinkSection(telemetry_interval_s=600)).node


@pytest.fixture
def site(broker: PrivateMosquitto, tmp_path: Path) -> Iterator[Site]:
    backend = BackendService(
        f"sqlite:///{tmp_path / 'backend.sqlite'}",
        tmp_path / "backend-blobs",
        broker_host=broker.host,
        broker_port=broker.port,
        client_id="backend.progress",
        credentials=worker_identity(broker.authority, "backend.progress"),
        shared_group=None,
    )
    devices = EmulatedDevices()
    nodes = []
    for tid in ("T0001", "T0002"):
        key = secrets.token_bytes(32)  # what an enrollment bundle carries
        backend.register_terminal(tid, key)
        nodes.append(_node(tid, tmp_path / tid, devices, broker, key, backend))
    try:
        backend.start()
        assert backend.mqtt and backend.mqtt.wait_ready(10)
        for node in nodes:
            node.start()
            assert node.link.wait_connected(10)
            assert node.link.responses_granted.wait(5)
        yield Site(broker, backend, nodes[0], nodes[1], devices)
    finally:
        for node in nodes:
            node.stop()
        backend.stop()


def test_another_terminal_learns_the_progress_through_the_broker(site: Site):
    no = site.submit()
    today = datetime.now(UTC)

    received = site.there.progress.ask(no.replace("-", ""), PHONE[-4:])
    assert received.reached and received.found
    assert received.state == "received" and received.item_code == "HJ-0101"
    assert received.promised_by is not None and received.promised_by > today.date()

    site.backend.desk.step(no, "accept", "clerk")
    site.backend.desk.step(
        no,
        "request_supplement",
        "clerk",
        "张三 please bring page 2",
        reason="unclear_scan",
        materials=["household-register"],
    )
    owed = site.there.progress.ask(no, PHONE[-4:])
    assert owed.state == "supplement_needed"

    wrong = site.there.progress.ask(no, "0000")
    unknown = site.there.progress.ask("AH-T0001-20200101-0001", PHONE[-4:])
    assert (wrong.reached, wrong.found, wrong.state) == (True, False, None)
    assert (unknown.reached, unknown.found, unknown.state) == (True, False, None)
    assert site.there.progress.answered == 4
    with site.backend.db.transaction() as s:
        rows = s.scalars(select(StatusQueryLog).order_by(StatusQueryLog.id)).all()
        assert [(r.terminal_id, r.outcome) for r in rows] == [
            ("T0002", "answered"),
            ("T0002", "answered"),
            ("T0002", "wrong_tail"),
            ("T0002", "unknown"),
        ]


def test_with_the_backend_silent_or_the_link_down_nothing_of_the_local_record_is_shown(
    site: Site,
):
    no = site.submit()
    site.backend.stop()  # the broker is up, nobody answers
    site.here.progress.timeout_s = 1.0
    # Nobody checks the tail offline: the terminal's own record of the number stays unsaid,
    # for the right tail as for a guessed one, here as at another terminal.
    silent = site.here.progress.ask(no, PHONE[-4:])
    guessed = site.here.progress.ask(no, "0000")
    assert (silent.reached, silent.found, silent.item_code) == (False, False, None)
    assert guessed == silent
    site.there.progress.timeout_s = 1.0
    elsewhere = site.there.progress.ask(no, PHONE[-4:])
    assert (elsewhere.reached, elsewhere.found) == (False, False)

    site.broker.stop()
    assert wait_until(lambda: not site.here.link.connected.is_set(), 10)
    down = site.here.progress.ask(no, PHONE[-4:])
    assert (down.reached, down.found) == (False, False)
    assert site.here.progress.unanswered == 3


def test_a_rating_reaches_the_backend_once_even_when_sent_twice(site: Site):
    no = site.submit()
    assert site.here.ratings.rate(no, 2, ["waiting", "device_problem"])
    assert not site.here.ratings.rate(no, 5)  # a second tap queues nothing
    # A rebuilt outbox sends the same operation again under a new message id.
    site.here.outbox.put(
        m.ServiceRated(
            terminal_id="T0001",
            operation_id=f"{no}#rating",
            application_no=no,
            score=1,
            rated_at=datetime.now(UTC),
        )
    )
    assert wait_until(lambda: site.here.outbox.backlog() == 0, 20, 0.1)
    assert site.count(select(func.count()).select_from(ServiceRating)) == 1
    with site.backend.db.transaction() as s:
        row = s.get(ServiceRating, no)
        assert (row.score, row.reasons, row.terminal_id) == (
            2,
            ["device_problem", "waiting"],
            "T0001",
        )
        outcomes = s.scalars(
            select(ProcessedMessage.outcome).where(ProcessedMessage.type == "event.service_rated")
        ).all()
    assert sorted(outcomes) == ["duplicate", "stored"]
