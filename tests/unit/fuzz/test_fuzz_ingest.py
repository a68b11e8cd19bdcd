"""Backend handlers on hostile messages: every batch commits, each message gets one outcome."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_messages import EXAMPLES, UPSTREAM, mutated, payloads
from hypothesis import given
from hypothesis import strategies as st

from backend.blobs import BlobStore
from backend.db import Database
from backend.ingest import Ingest
from backend.sms import HeldSms
from cloud_bridge.contract import messages as m

TERMINAL = "T0001"


class _Published:
    def __init__(self) -> None:
        self.sent: list[m.Message] = []

    def publish(self, message: m.Message) -> None:
        self.sent.append(message)


@pytest.fixture
def ingest(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'backend.db'}")
    db.migrate()
    ingest = Ingest(db, BlobStore(tmp_path / "blobs"), HeldSms(), _Published())
    ingest.register_terminal(TERMINAL, bytes(range(32)))
    # An application on file, so mutated references both hit and miss.
    submitted = EXAMPLES["event.application_submitted"]
    ingest.handle_batch([(submitted.topic(), submitted.encode())])
    yield ingest
    db.dispose()


def _answers_expected(items: list[tuple[str, bytes]]) -> int:
    """Messages that get a counted outcome (stored, duplicate, refused or deferred): all but
    well-formed requests."""
    count = 0
    for topic, payload in items:
        try:
            message = m.decode_from(topic, payload)
        except m.MalformedMessage:
            count += 1
            continue
        count += not isinstance(message, m.REQUEST_TYPES)
    return count


upstream_topics = st.sampled_from(sorted({EXAMPLES[name].topic() for name in UPSTREAM}))
batches = st.lists(
    st.one_of(mutated(UPSTREAM), st.tuples(upstream_topics, payloads)), min_size=1, max_size=6
)


@given(batches)
def test_any_batch_commits_and_counts_every_message_once(ingest, items):
    result = ingest.handle_batch(items)

    # Deferred: a message whose application is not stored yet waits unanswered a few times
    # (NotYet), then is refused; which of the two depends on how often the example ran.
    outcomes = result.stored + result.duplicate + result.rejected + result.deferred
    assert outcomes == _answers_expected(items)
    for receipt in result.receipt_messages():
        assert m.decode(receipt.encode()) == receipt


def _outcomes(result) -> dict[str, str]:
    return {i.message_id: i.outcome for items in result.receipts.values() for i in items}


@given(st.lists(mutated(UPSTREAM), min_size=1, max_size=4))
def test_a_message_applied_once_is_a_duplicate_ever_after(ingest, items):
    first = _outcomes(ingest.handle_batch(items))

    again = _outcomes(ingest.handle_batch(items))

    # A refused message is not recorded, so it may go through later (its cause fixed, or a
    # blob whose chunks were dropped after a failed check being sent again).
    applied = [i for i, outcome in first.items() if outcome in ("stored", "duplicate")]
    assert all(again[i] == "duplicate" for i in applied)
