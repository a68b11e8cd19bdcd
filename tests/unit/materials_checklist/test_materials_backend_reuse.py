"""The backend's side of reuse and tolerated materials, over SQLite and without a broker."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest
from backend.models import Material, ProcessedMessage, ReuseQueryLog
from backend.queries import application_detail
from backend.reuse import MaterialsOnFile, ReuseSettings
from backend.sms import HeldSms
from backend.staff import StaffDesk
from cloud_bridge.contract import applicant_ref
from cloud_bridge.contract import messages as m

T = "T0001"
APPLICANT_KEY = b"applicant-key-of-the-whole-fleet"
ZHANG = ("cn_resident_id", "11010519491231002X")
LI = ("cn_resident_id", "110105198001010011")
NOW = datetime(2026, 11, 20, 13, 30, tzinfo=UTC)


class Publisher:
    def __init__(self) -> None:
        self.sent: list[m.Message] = []

    def publish(self, message: m.Message) -> None:
        self.sent.append(message)


class Site:
    def __init__(self, tmp: Path):
        self.now = NOW
        self.db = Database(f"sqlite:///{tmp / 'b.db'}")
        self.db.migrate()
        self.publisher = Publisher()
        reuse = MaterialsOnFile(ReuseSettings(APPLICANT_KEY), lambda: self.now)
        self.ingest = Ingest(
            self.db, BlobStore(tmp / "blobs"), HeldSms(), self.publisher, reuse=reuse
        )
        self.ingest.register_terminal(T, bytes(32))
        self.desk = StaffDesk(self.db, self.publisher, HeldSms())
        self.seq = 0

    def feed(self, *messages: m.Message):
        return self.ingest.handle_batch([(x.topic(), x.encode()) for x in messages])

    def submit(
        self,
        who: tuple[str, str],
        files: dict[str, tuple[bytes, date | None]] | None = None,
        reused: list[tuple[str, str]] | None = None,
        tolerated: list[tuple[str, int]] | None = None,
        at: datetime | None = None,
    ) -> str:
        self.seq += 1
        no = f"AH-T0001-20261120-{self.seq:04d}"
        materials, chunks = [], []
        for code, (data, valid_until) in (files or {}).items():
            sha = hashlib.sha256(data).hexdigest()
            materials.append(
                m.MaterialRef(
                    material_code=code,
                    sha256=sha,
                    size=len(data),
                    content_type="application/pdf",
                    pages=1,
                    valid_until=valid_until,
                )
            )
            chunks.append(
                m.BlobChunk(
                    terminal_id=T,
                    sha256=sha,
                    index=0,
                    count=1,
                    total_size=len(data),
                    data=base64.b64encode(data).decode(),
                )
            )
        event = m.ApplicationSubmitted(
            terminal_id=T,
            operation_id=no,
            application_no=no,
            item_code="HJ-0101",
            applicant=m.Applicant(
                name="张三", id_document_type=who[0], id_number=who[1], phone="13800138000"
            ),
            identity=m.IdentityDecision(method="face", verified=True),
            materials=materials,
            reused_materials=[
                m.ReusedMaterial(material_code=c, reference=r) for c, r in reused or []
            ],
            tolerated_missing=[
                m.ToleratedMaterial(material_code=c, working_days=d) for c, d in tolerated or []
            ],
            submitted_at=at or self.now,
        )
        self.feed(event, *chunks)
        return no

    def ask(self, who: tuple[str, str], codes=("id-card-copy", "household-register"), **kw):
        query = m.MaterialsOnFileQuery(
            terminal_id=T,
            operation_id="AH-T0001-20261121-0001#on-file",
            applicant_ref=applicant_ref.digest(APPLICANT_KEY, *who),
            material_codes=list(codes),
            expires_at=kw.get("expires_at", self.now + timedelta(seconds=5)),
        )
        before = len(self.publisher.sent)
        result = self.feed(query)
        answers = self.publisher.sent[before:]
        return query, result, answers

    def offered(self, who: tuple[str, str], **kw) -> dict[str, m.OnFileMaterial]:
        _, _, [answer] = self.ask(who, **kw)
        assert isinstance(answer, m.MaterialsOnFile)
        return {x.material_code: x for x in answer.materials}

    def detail(self, no: str) -> dict:
        with self.db.transaction() as s:
            return application_detail(s, no)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = Site(tmp_path)
    yield s
    s.db.dispose()


def _accepted_first_application(site: Site) -> str:
    no = site.submit(
        ZHANG,
        {
            "id-card-copy": (b"%PDF-id card of zhang", date(2036, 3, 1)),
            "household-register": (b"%PDF-register of zhang", date(2027, 5, 20)),
        },
    )
    site.desk.step(no, "accept", "clerk")
    return no


def test_the_applicant_gets_their_verified_accepted_materials_and_nothing_else(site: Site):
    first = _accepted_first_application(site)

    query, result, [answer] = site.ask(ZHANG)

    assert isinstance(answer, m.MaterialsOnFile)
    assert (answer.operation_id, answer.request_id) == (query.operation_id, query.message_id)
    assert answer.expires_at == query.expires_at
    assert {x.material_code: x.valid_until for x in answer.materials} == {
        "id-card-copy": date(2036, 3, 1),
        "household-register": date(2027, 5, 20),
    }
    assert all(x.captured_on == date(2026, 11, 20) for x in answer.materials)
    # A request is neither receipted nor recorded as processed: it changed nothing.
    assert result.receipts == {} and (result.stored, result.rejected) == (0, 0)
    with site.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ProcessedMessage)) == 3
        [log] = s.scalars(select(ReuseQueryLog))
        assert (log.terminal_id, log.offered) == (T, 2)
    assert site.offered(LI) == {}
    held = {x["material_code"]: x for x in site.detail(first)["materials"]}
    assert held["id-card-copy"]["valid_until"] == date(2036, 3, 1)
    assert held["id-card-copy"]["reused"] is False


def test_nothing_is_offered_before_staff_accept_or_after_they_reject(site: Site):
    no = site.submit(ZHANG, {"id-card-copy": (b"%PDF-id", date(2036, 3, 1))})
    assert site.offered(ZHANG) == {}  # submitted, not yet accepted

    site.desk.step(no, "accept", "clerk")
    assert set(site.offered(ZHANG)) == {"id-card-copy"}

    site.desk.step(no, "reject", "clerk")
    assert site.offered(ZHANG) == {}


def test_unverified_expired_and_unasked_materials_are_not_offered(site: Site):
    no = site.submit(ZHANG, {"id-card-copy": (b"%PDF-id", date(2036, 3, 1))})
    with site.db.transaction() as s:  # as if the file's chunks had never arrived
        s.get(Material, 1).verified = False
    site.desk.step(no, "accept", "clerk")
    assert site.offered(ZHANG) == {}

    other = site.submit(ZHANG, {"household-register": (b"%PDF-old register", date(2026, 11, 19))})
    site.desk.step(other, "accept", "clerk")
    assert site.offered(ZHANG) == {}  # valid until yesterday
    assert site.offered(ZHANG, codes=["lease"]) == {}


def test_an_expired_request_gets_no_answer(site: Site):
    _accepted_first_application(site)
    _, _, answers = site.ask(ZHANG, expires_at=NOW - timedelta(seconds=1))
    assert answers == []


def test_a_reused_material_links_the_file_already_held_without_a_new_blob(site: Site):
    first = _accepted_first_application(site)
    ref = site.offered(ZHANG)["id-card-copy"].reference

    second = site.submit(
        ZHANG,
        {"household-register": (b"%PDF-new register", date(2027, 5, 21))},
        reused=[("id-card-copy", ref)],
    )

    materials = {x["material_code"]: x for x in site.detail(second)["materials"]}
    original = {x["material_code"]: x for x in site.detail(first)["materials"]}
    assert materials["id-card-copy"]["sha256"] == original["id-card-copy"]["sha256"]
    assert materials["id-card-copy"]["reused"] is True
    assert materials["id-card-copy"]["verified"] is True
    assert site.detail(second)["supplements"] == []
    with site.db.transaction() as s:
        rows = s.scalars(select(Material).where(Material.application_no == second)).all()
        linked = next(r for r in rows if r.material_code == "id-card-copy")
        assert linked.reference is None  # only the original is offered again, never a link


def test_a_reference_of_another_applicant_is_never_linked(site: Site):
    _accepted_first_application(site)
    zhangs = site.offered(ZHANG)["id-card-copy"].reference

    stolen = site.submit(LI, reused=[("id-card-copy", zhangs)])
    forged = site.submit(LI, reused=[("id-card-copy", "MAT-doesnotexist00")])

    for no in (stolen, forged):
        detail = site.detail(no)
        assert detail["materials"] == []
        [owed] = detail["supplements"]
        assert (owed["material_code"], owed["reason"]) == ("id-card-copy", "reuse_invalid")
        assert owed["due_on"] == date(2026, 11, 27)  # 5 working days after Friday the 20th
    assert "another applicant" in site.detail(stolen)["supplements"][0]["note"]


def test_a_tolerated_material_is_due_after_working_days_of_the_official_calendar(site: Site):
    thursday_evening = datetime(2026, 9, 24, 13, 30, tzinfo=UTC)  # 21:30 in Beijing
    no = site.submit(
        ZHANG, tolerated=[("lease", 5), ("household-register", 2)], at=thursday_evening
    )

    owed = {x["material_code"]: x for x in site.detail(no)["supplements"]}
    assert owed["household-register"]["due_on"] == date(2026, 9, 29)  # over 中秋节 and a weekend
    assert owed["lease"]["due_on"] == date(2026, 10, 9)  # and over the National Day week
    assert owed["lease"]["reason"] == "tolerated" and owed["lease"]["calendar_covered"] is True
    assert owed["lease"]["supplied_at"] is None
