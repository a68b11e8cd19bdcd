"""Dead letters: kept with their reason, listed without payload, replayed once, and ingest lag."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL, submission
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend import dead_letters
from backend.api import create_app
from backend.auth.bootstrap import account_with_token, bearer
from backend.ingest import DeadLetterReplayFailed
from backend.ingest_lag import IngestLag
from backend.models import Application, IngestCounter
from backend.service import BackendService


def _refuse(backend, application_no: str) -> None:
    """A database trigger that fails every insert of one application (SQLite or PostgreSQL)."""
    with backend.db.transaction() as s:
        if backend.db.engine.dialect.name == "postgresql":
            s.execute(
                text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN RAISE EXCEPTION 'refused by test trigger' "
                    "USING ERRCODE = 'check_violation'; END $$"
                )
            )
            s.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON applications FOR EACH ROW "
                    f"WHEN (NEW.application_no = '{application_no}') "
                    "EXECUTE FUNCTION refuse_one()"
                )
            )
            return
        s.execute(
            text(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON applications "
                f"WHEN NEW.application_no = '{application_no}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
            )
        )


def _allow(backend) -> None:
    with backend.db.transaction() as s:
        if backend.db.engine.dialect.name == "postgresql":
            s.execute(text("DROP TRIGGER refuse_one ON applications"))
            s.execute(text("DROP FUNCTION refuse_one()"))
            return
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


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    yield svc
    svc.stop()


@pytest.fixture
def api(service):
    """An operator's client; `api.token(role)` gives the headers of another role's token."""
    tokens = {
        role: account_with_token(service.db, f"{role}.one", [role])[1]
        for role in ("operator", "clerk", "admin")
    }
    with TestClient(create_app(service), headers=bearer(tokens["operator"])) as client:
        client.token = lambda role: bearer(tokens[role])
        yield client


def _service_letter(service, no: str) -> int:
    event = submission(no)
    service.ingest.dead_letter(event.topic(), event.encode(), "IntegrityError", 3)
    with service.db.transaction() as s:
        return dead_letters.list_dead_letters(s)[0]["id"]


def test_an_operator_lists_and_replays_and_is_named_as_the_replayer(api, service):
    letter_id = _service_letter(service, "AH-T0001-20261203-0006")

    listed = api.get("/api/ingest/dead-letters").json()
    r = api.post(f"/api/ingest/dead-letters/{letter_id}/replay")

    assert [x["id"] for x in listed] == [letter_id] and listed[0]["replayable"]
    assert r.status_code == 200, r.text
    assert r.json() == {"id": letter_id, "outcome": "stored", "replayed_by": "operator.one"}
    assert api.get("/api/ingest/dead-letters", params={"pending": "true"}).json() == []


def test_replay_refuses_unknown_replayed_and_malformed_ids(api, service):
    letter_id = _service_letter(service, "AH-T0001-20261203-0007")
    api.post(f"/api/ingest/dead-letters/{letter_id}/replay")

    assert api.post("/api/ingest/dead-letters/999/replay").status_code == 404
    again = api.post(f"/api/ingest/dead-letters/{letter_id}/replay")
    assert again.status_code == 409 and "replayed already" in again.json()["detail"]
    assert api.post("/api/ingest/dead-letters/0/replay").status_code == 422
    assert api.post("/api/ingest/dead-letters/1e999/replay").status_code == 422
    assert api.get("/api/ingest/dead-letters", params={"limit": 100000}).status_code == 422


def test_dead_letters_need_a_signed_in_person_with_the_ingest_rights(api, service):
    letter_id = _service_letter(service, "AH-T0001-20261203-0008")
    replay = f"/api/ingest/dead-letters/{letter_id}/replay"
    nobody = {"Authorization": ""}

    assert api.get("/api/ingest/dead-letters", headers=nobody).status_code == 401
    assert api.post(replay, headers=nobody).status_code == 401
    clerk = api.token("clerk")
    assert api.get("/api/ingest/dead-letters", headers=clerk).status_code == 403
    assert api.post(replay, headers=clerk).status_code == 403
    # An admin may read ingest, but replaying changes cases: operators only.
    assert api.get("/api/ingest/dead-letters", headers=api.token("admin")).status_code == 200
    assert api.post(replay, headers=api.token("admin")).status_code == 403
    with service.db.transaction() as s:
        assert dead_letters.list_dead_letters(s, pending_only=True)[0]["id"] == letter_id


def test_the_api_refuses_a_20_mib_body_with_413_before_anything_else(api):
    r = api.post(
        "/api/applications/AH-T0001-20261203-0009/accept",
        content=b"{" + b" " * (20 * 1024 * 1024) + b"}",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


def test_the_api_answers_1e999_with_a_clean_422(api):
    r = api.post(
        "/api/applications/AH-T0001-20261203-0009/accept",
        content=b'{"version": 1e999}',
        headers={"content-type": "application/json", **api.token("clerk")},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "version"]


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


def test_an_id_past_the_tables_integers_is_a_422_on_postgresql_too(postgres_url, tmp_path):
    # dead_letters.id is a 4-byte integer on PostgreSQL: 2**31 passed the route's bound of
    # 2**62, and the query failed ("integer out of range"), a 500.
    service = BackendService(postgres_url, tmp_path / "blobs", broker_port=None)
    try:
        _, token = account_with_token(service.db, "operator.one", ["operator"])
        with TestClient(create_app(service), headers=bearer(token)) as client:
            assert client.post(f"/api/ingest/dead-letters/{2**31 - 1}/replay").status_code == 404
            assert client.post(f"/api/ingest/dead-letters/{2**31}/replay").status_code == 422
    finally:
        service.stop()
