"""request.materials_on_file against one stolen terminal walking ID numbers with the fleet key.

Materials on file and owing applications both name a citizen by applicant key: one budget of
questions per terminal and hour, whatever the operation ids say; a throttled question is
audited and gets no answer, and an operator is warned once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from backend_unit_factories import TERMINAL, DeskSite
from sqlalchemy import select

from backend.models import ReuseQueryLog
from cloud_bridge.contract import messages as m

NO = "AH-T0001-20261120-0001"
ATTACKER = "T0002"
ZHANG = "11010519491231002X"  # the canonical applicant


class Site(DeskSite):
    def __init__(self, tmp_path: Path):
        super().__init__(tmp_path, "reuse-throttle.db")

    def ref(self, number: str) -> str:
        return self.ingest.reuse.applicant_ref("cn_resident_id", number)

    def on_file(self, number: str, terminal: str = ATTACKER, op: str = NO + "#on-file"):
        return m.MaterialsOnFileQuery(
            terminal_id=terminal,
            operation_id=op,
            applicant_ref=self.ref(number),
            material_codes=["id-card-copy"],
            expires_at=self.clock() + timedelta(seconds=5),
        )

    def owing(self, number: str, terminal: str = ATTACKER) -> m.OwingApplicationsQuery:
        return m.OwingApplicationsQuery(
            terminal_id=terminal,
            operation_id="OWING-" + m.new_message_id()[:12],
            applicant_ref=self.ref(number),
            expires_at=self.clock() + timedelta(seconds=5),
        )

    def answers(self, *queries: m.Message) -> list[m.Message]:
        before = len(self.publisher.sent)
        assert not self.feed(*queries).receipts, "a request gets no receipt"
        return self.publisher.sent[before:]

    def offered(self) -> list[int]:
        with self.db.transaction() as s:
            return list(s.scalars(select(ReuseQueryLog.offered).order_by(ReuseQueryLog.id)))


@pytest.fixture
def site(tmp_path):
    s = Site(tmp_path)
    yield s
    s.db.dispose()


def walk(n: int) -> list[str]:
    return [f"1101051949123{i:04d}X" for i in range(n)]


def test_a_terminal_walking_id_numbers_is_not_answered_after_60_questions_an_hour(site, caplog):
    caplog.set_level(logging.WARNING, logger="backend.reuse")
    answers = site.answers(*[site.on_file(x) for x in walk(60)])
    assert len(answers) == 60 and all(a.materials == [] for a in answers)
    assert "walking ID numbers" not in caplog.text
    # From the 61st on no answer, as if offline: the terminal offers nothing, the citizen scans.
    assert site.answers(site.on_file(ZHANG), site.on_file(ZHANG)) == []
    assert caplog.text.count("terminal T0002 asked 60 questions by applicant key") == 1
    assert site.offered() == [0] * 60 + [-1, -1]
    # Other terminals are answered; the walker again once its questions age out.
    assert [type(x) for x in site.answers(site.on_file(ZHANG, TERMINAL))] == [m.MaterialsOnFile]
    site.clock.now += timedelta(hours=1, seconds=1)
    assert [type(x) for x in site.answers(site.on_file(ZHANG))] == [m.MaterialsOnFile]


def test_materials_on_file_and_owing_questions_share_one_budget(site):
    numbers = walk(60)
    # An operation id that looks like an owing question's changes nothing.
    disguised = [site.on_file(x, op="OWING-" + m.new_message_id()[:12]) for x in numbers[:20]]
    asked = disguised + [site.on_file(x) for x in numbers[20:40]]
    assert len(site.answers(*asked, *[site.owing(x) for x in numbers[40:]])) == 60
    assert site.answers(site.owing(ZHANG)) == []
    assert site.answers(site.on_file(ZHANG)) == []
    assert len(site.answers(site.owing(ZHANG, TERMINAL), site.on_file(ZHANG, TERMINAL))) == 2


def test_a_walker_kept_out_writes_no_more_than_twice_its_budget_to_the_log(site):
    # Every refused question was a row: a stolen certificate asking at broker speed grew the
    # audit log without bound. Refusals are audited up to twice the budget a window, which
    # keeps the walker out while it goes on asking.
    numbers = walk(400)
    for first in range(0, 400, 100):
        site.answers(*[site.on_file(x) for x in numbers[first : first + 100]])
    assert site.offered() == [0] * 60 + [-1] * 60
    site.clock.now += timedelta(minutes=50)
    assert site.answers(*[site.on_file(x) for x in walk(30)]) == []  # still out
    assert len(site.offered()) == 120
    assert [type(x) for x in site.answers(site.owing(ZHANG, TERMINAL))] == [m.OwingApplications]
