"""Two people taking one case at the same moment, on SQLite and on PostgreSQL 15: the one who
comes second is told who holds it (409), never a unique-key violation (500)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from backend_unit_factories import submission
from sqlalchemy.orm import Session

from backend import claims
from backend.auth.accounts import Accounts
from backend.db import Database

NO = "AH-T0001-20261120-0001"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ROUNDS = 30
PASSWORD = "claim-race-password-1"


@pytest.fixture
def people(backend) -> dict[str, int]:
    backend.feed(submission(NO))
    accounts = Accounts(backend.db)
    return {
        name: accounts.add(name, roles, password=PASSWORD, must_change_password=False)[0].id
        for name, roles in (
            ("clerk.li", ["clerk"]),
            ("clerk.wang", ["clerk"]),
            ("sup.ma", ["supervisor"]),
        )
    }


def _at_once(db: Database, *works: Callable[[Session], object]) -> list[object]:
    """Run each work in a transaction of its own on its own thread, all started together;
    what each returned, or the exception it raised."""
    start = threading.Barrier(len(works))
    out: list[object] = [None] * len(works)

    def run(i: int, work: Callable[[Session], object]) -> None:
        try:
            with db.transaction() as session:
                start.wait(10)  # no connection taken yet: SQLite's write lock is not held
                out[i] = work(session)
        except BaseException as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    return out


def _release(db: Database, people: dict[str, int]) -> None:
    with db.transaction() as session:
        claims.release(session, NO, people["sup.ma"], supervisor=True)


def test_two_clerks_claiming_one_case_at_once_one_holds_it_the_other_is_told_who(backend, people):
    for _ in range(ROUNDS):
        out = _at_once(
            backend.db,
            *(
                lambda s, who=who: claims.claim(s, NO, people[who], NOW)
                for who in ("clerk.li", "clerk.wang")
            ),
        )
        held = [x for x in out if isinstance(x, claims.Holder)]
        refused = [x for x in out if isinstance(x, claims.ClaimedByOther)]
        assert len(held) == 1 and len(refused) == 1, out
        assert refused[0].holder.username == held[0].username
        with backend.db.reading() as session:
            assert claims.holder(session, NO).username == held[0].username
        _release(backend.db, people)


def test_an_assignment_made_while_a_clerk_claims_stands(backend, people):
    """The supervisor's assignment wins whichever commits first; the clerk hears who holds it
    if the assignment came first."""
    for _ in range(ROUNDS):
        claiming, assigning = _at_once(
            backend.db,
            lambda s: claims.claim(s, NO, people["clerk.li"], NOW),
            lambda s: claims.assign(s, NO, "clerk.wang", people["sup.ma"], NOW),
        )
        assert isinstance(assigning, claims.Holder), assigning
        assert assigning.username == "clerk.wang" and assigning.assigned_by == "sup.ma"
        if not isinstance(claiming, claims.Holder):
            assert isinstance(claiming, claims.ClaimedByOther), claiming
            assert claiming.holder.username == "clerk.wang"
        with backend.db.reading() as session:
            now_held = claims.holder(session, NO)
        assert (now_held.username, now_held.assigned_by) == ("clerk.wang", "sup.ma")
        _release(backend.db, people)
