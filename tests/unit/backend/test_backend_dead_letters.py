"""Dead letters: kept with their reason, listed without payload, replayed once, and ingest lag."""

from __future__ import annotations

import pytest
from backend_unit_factories import TERMINAL, submission
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend import dead_letters
from backend.dead_letter_routes import dead_letter_router
from backend.ingest import DeadLetterReplayFailed
from backend.ingest_lag import IngestLag
from backend.models import Application, IngestCounter


def _refuse(backend, application_no: str) -> None:
    """A database trigger that fails every insert of one application."""
    with backend.db.transaction() as s:
        s.execute(
            text(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON applications "
                f"WHEN NEW.application_no = '{application_no}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
            )
        )


def _allow(backend) -> None:
    with backend.db.transaction() as s:
        s.execute(text("DROP TRIGGER refuse_one"))


def _letters(backend, pending: bool = False) -> list[dict]:
    with backend.db.transaction() as s:
        return dead_letters.list_dead_letters(s, pending)


def _dead_letter(backend, event) -> int:
    backend.ingest.dead_letter(event.topic(), event.encode(), "IntegrityError", 3)
    return _letters(backend)[0]["id"]


def test_a_dead_letter_answers_its_terminal_rejected_and_is_counted(backend):
    event = submission("AH-T0001-20261203-0001")

    result = backend.ingest.dead_letter(event.topic(), event.encode(), "IntegrityError", 3)

    (receipt,) = result.receipt_messages()
    assert receipt.terminal_id == TERMINAL
    (item,) = receipt.items
    assert (item.message_id, item.outcome) == (event.message_id, "rejected")
    assert item.reason == "held for replay: IntegrityError"
    with backend.db.transaction() as s:
        assert s.get(IngestCounter, "dead_lettered").value == 1


def test_the_listing_names_source_and_reason_but_never_the_payload(backend):
    event = submission("AH-T0001-20261203-0002")
    _dead_letter(backend, event)

    (letter,) = _letters(backend)

    assert letter["terminal_id"] == TERMINAL and letter["message_id"] == event.message_id
    assert letter["reason"] == "IntegrityError" and letter["replayable"]
    assert "payload" not in letter
    assert event.applicant.id_number not in repr(letter)


def test_a_replay_that_fails_again_keeps_the_letter_and_counts_the_attempt(backend):
    event = submission("AH-T0001-20261203-0003")
    _refuse(backend, event.application_no)
    letter_id = _dead_letter(backend, event)

    with pytest.raises(DeadLetterReplayFailed, match="IntegrityError"):
        backend.ingest.replay(letter_id, "ops.wang")

    (letter,) = _letters(backend, pending=True)
    assert letter["attempts"] == 4 and letter["reason"].startswith("replay by ops.wang failed")
    assert backend.count(Application) == 0


def test_a_replay_after_the_fix_stores_the_message_once_and_answers_the_terminal(backend):
    event = submission("AH-T0001-20261203-0004")
    _refuse(backend, event.application_no)
    letter_id = _dead_letter(backend, event)
    _allow(backend)

    assert backend.ingest.replay(letter_id, "ops.wang") == "stored"

    assert backend.count(Application) == 1
    assert _letters(backend, pending=True) == []
    (receipt,) = [x for x in backend.publisher.sent if x.type == "receipt"]
    assert receipt.items[0].outcome == "stored"
    with pytest.raises(dead_letters.DeadLetterError, match="replayed already"):
        backend.ingest.replay(letter_id, "ops.wang")


def test_replaying_a_message_stored_meanwhile_is_a_duplicate(backend):
    event = submission("AH-T0001-20261203-0005")
    letter_id = _dead_letter(backend, event)
    backend.feed(event)  # the terminal sent it again and it went through

    assert backend.ingest.replay(letter_id, "ops.wang") == "duplicate"
    assert backend.count(Application) == 1


def test_an_oversized_payload_is_kept_without_payload_and_cannot_be_replayed(backend):
    topic = submission().topic()
    backend.ingest.dead_letter(topic, b"x" * (dead_letters.MAX_KEPT_PAYLOAD + 1), "Error", 3)
    (letter,) = _letters(backend)

    assert not letter["replayable"]
    with pytest.raises(dead_letters.DeadLetterError, match="no payload"):
        backend.ingest.replay(letter["id"], "ops.wang")


# ------------------------------------------------------------ routes


def _operator(x_operator: str = Header(default="")) -> str:
    """Stands in for the console's sign-in: a name, or 401."""
    if not x_operator:
        raise HTTPException(401, "sign in first")
    return x_operator


@pytest.fixture
def api(backend):
    app = FastAPI()
    app.include_router(
        dead_letter_router(backend.db, backend.ingest, reader=_operator, replayer=_operator)
    )
    with TestClient(app) as client:
        yield client


def test_routes_list_and_replay_with_the_caller_as_actor(api, backend):
    letter_id = _dead_letter(backend, submission("AH-T0001-20261203-0006"))
    me = {"X-Operator": "ops.zhao"}

    assert [x["id"] for x in api.get("/api/ingest/dead-letters", headers=me).json()] == [letter_id]
    r = api.post(f"/api/ingest/dead-letters/{letter_id}/replay", headers=me)

    assert r.status_code == 200, r.text
    assert r.json() == {"id": letter_id, "outcome": "stored", "replayed_by": "ops.zhao"}
    assert api.get("/api/ingest/dead-letters?pending=true", headers=me).json() == []


def test_routes_refuse_unknown_replayed_malformed_and_anonymous_requests(api, backend):
    letter_id = _dead_letter(backend, submission("AH-T0001-20261203-0007"))
    me = {"X-Operator": "ops.zhao"}
    api.post(f"/api/ingest/dead-letters/{letter_id}/replay", headers=me)

    assert api.post("/api/ingest/dead-letters/999/replay", headers=me).status_code == 404
    again = api.post(f"/api/ingest/dead-letters/{letter_id}/replay", headers=me)
    assert again.status_code == 409 and "replayed already" in again.json()["detail"]
    assert api.post("/api/ingest/dead-letters/0/replay", headers=me).status_code == 422
    assert api.post("/api/ingest/dead-letters/1e999/replay", headers=me).status_code == 422
    assert api.get("/api/ingest/dead-letters?limit=100000", headers=me).status_code == 422
    assert api.get("/api/ingest/dead-letters").status_code == 401
    assert api.post(f"/api/ingest/dead-letters/{letter_id}/replay").status_code == 401


# ------------------------------------------------------------ lag


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lag_is_the_age_of_the_oldest_unsettled_message_and_a_long_one_is_a_stall():
    clock, queued = _Clock(), [None]
    lag = IngestLag(lambda: queued[0], stall_after_s=30, clock=clock)
    assert lag.report(0, worker_alive=True)["lag_s"] == 0

    queued[0] = 99.0
    assert lag.report(1, worker_alive=True)["lag_s"] == 1.0
    lag.taking(95.0)
    clock.now = 126.0
    report = lag.report(0, worker_alive=True)
    assert report["lag_s"] == 31.0 and report["stalled"]

    lag.done()
    queued[0] = None
    assert lag.report(0, worker_alive=True) == {
        "lag_s": 0.0,
        "queued": 0,
        "retrying": False,
        "worker_alive": True,
        "stalled": False,
        "last_batch_s_ago": 0.0,
    }


def test_a_dead_worker_is_a_stall_even_with_nothing_queued():
    lag = IngestLag(lambda: None)
    assert lag.report(0, worker_alive=False)["stalled"]
