"""A broker outage loses nothing: the outbox keeps it, resends it, and resumes blob uploads."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from terminal_integration_parts import TERMINAL

from cloud_bridge.contract import messages as m
from cloud_bridge.link import wait_until

pytestmark = pytest.mark.broker


def _chunks(backend, since: float = 0.0) -> list[m.BlobChunk]:
    return [r.message for r in backend.messages(m.BlobChunk, since)]  # type: ignore[misc]


def test_submission_during_a_broker_outage_reaches_the_backend_after_restart(
    broker, start_node, start_backend
):
    backend = start_backend(client_id="backend.backend-ingest", persistent=True)
    node = start_node()
    assert backend.wait_for(lambda: backend.messages(m.Status))

    broker.stop()
    assert wait_until(lambda: not node.link.connected.is_set(), 5)

    flow = node.submission()
    flow.read_identity()
    flow.verify_face()
    flow.choose_item("HJ-0101")
    flow.enter_phone("13800138000")
    for code in flow.missing_materials():
        flow.scan_material(code)
    flow.finish_materials()
    flow.open_deposit()
    flow.close_deposit()
    receipt = flow.submit()

    assert receipt.sent_now is False
    assert receipt.application_no
    blobs = [node.outbox.blob_path(s.blob.sha256) for s in flow.scanned.values()]
    assert all(p.exists() for p in blobs)
    backlog = node.outbox.backlog()
    assert backlog > 2

    broker.start()  # same port, same persistence directory
    assert node.link.wait_connected(5)

    def submitted() -> list[m.ApplicationSubmitted]:
        return [
            r.message
            for r in backend.messages(m.ApplicationSubmitted)
            if r.message.application_no == receipt.application_no  # type: ignore[attr-defined]
        ]

    def complete() -> bool:
        found = submitted()
        if not found or not backend.messages(m.MaterialsDeposited):
            return False
        have = {(c.sha256, c.index) for c in _chunks(backend)}
        return all(
            (ref.sha256, i) in have
            for ref in found[0].materials
            for i in range(-(-ref.size // m.BLOB_CHUNK_BYTES))
        )

    assert backend.wait_for(complete), "the backend did not get the whole submission"
    [event, *_] = submitted()
    assert event.applicant.phone == "13800138000"
    for ref in event.materials:
        parts = {c.index: c.raw() for c in _chunks(backend) if c.sha256 == ref.sha256}
        data = b"".join(parts[i] for i in sorted(parts))
        assert len(data) == ref.size
        assert hashlib.sha256(data).hexdigest() == ref.sha256

    upstream = [
        r.message.message_id
        for r in backend.messages()
        if not isinstance(r.message, m.Status | m.Telemetry)
    ]
    assert len(set(upstream)) == backlog
    backend.receipt(TERMINAL, upstream)

    assert wait_until(lambda: node.outbox.backlog() == 0, 5), node.outbox.backlog()
    # The files go just after the settling commit, on the link's network thread.
    assert wait_until(lambda: not any(p.exists() for p in blobs), 5)
    assert node.outbox.dead_letters() == []


def test_blob_upload_resumes_with_only_the_unreceipted_chunks(broker, start_node, start_backend):
    backend = start_backend()  # no stored session: after the cut, only resends can reach it
    node = start_node(resend_after_s=1.0)
    data = os.urandom(500_000)
    blob = node.outbox.stage_blob(data, "application/pdf")
    assert blob.chunk_count == 11
    with node.db.unit_of_work() as uow:
        node.outbox.add_blob(uow, blob)

    assert backend.wait_for(lambda: len({c.index for c in _chunks(backend)}) == 11)
    first_round = {c.index: c for c in _chunks(backend)}
    backend.receipt(TERMINAL, [first_round[i].message_id for i in range(5)])
    assert wait_until(lambda: node.outbox.backlog() == 6, 5)

    broker.stop()
    assert wait_until(lambda: not node.link.connected.is_set(), 5)
    restart_at = time.monotonic()
    broker.start()
    assert node.link.wait_connected(5)
    assert backend.subscribed.wait(5)

    def seen_after_restart() -> dict[int, int]:
        counts: dict[int, int] = {}
        for c in _chunks(backend, since=restart_at):
            counts[c.index] = counts.get(c.index, 0) + 1
        return counts

    # Twice each: a whole resend cycle has passed, in which a receipted chunk would show up too.
    assert backend.wait_for(
        lambda: all(seen_after_restart().get(i, 0) >= 2 for i in range(5, 11)), timeout=8
    ), seen_after_restart()
    assert set(seen_after_restart()) == set(range(5, 11))
    resent = {c.index: c for c in _chunks(backend, since=restart_at)}
    assert {i: c.message_id for i, c in resent.items()} == {
        i: first_round[i].message_id for i in range(5, 11)
    }
    joined = b"".join(first_round[i].raw() for i in range(5)) + b"".join(
        resent[i].raw() for i in range(5, 11)
    )
    assert hashlib.sha256(joined).hexdigest() == blob.sha256

    backend.receipt(TERMINAL, [c.message_id for c in resent.values()])
    assert wait_until(lambda: not node.outbox.blob_path(blob.sha256).exists(), 5)
    assert node.outbox.backlog() == 0


def test_a_backlog_no_backend_heard_goes_again_as_soon_as_one_subscribes(
    broker, start_node, start_backend
):
    # The fallback resend is two minutes away: only the broker's "no matching subscribers"
    # answer can bring these messages to the backend within the test's wait.
    node = start_node(resend_after_s=120)
    events = [m.Telemetry(terminal_id=TERMINAL, uptime_s=i, outbox_backlog=0) for i in range(40)]
    for event in events:
        node.outbox.put(event)
    # Nobody is subscribed: Mosquitto answers every publish with reason code 16 and drops it.
    assert wait_until(lambda: node.link.unheard.count >= len(events), 10)
    assert node.outbox.backlog() == len(events)

    backend = start_backend()
    ids = {e.message_id for e in events}

    def heard() -> set[str]:
        return {r.message.message_id for r in backend.messages(m.Telemetry)} & ids

    assert backend.wait_for(lambda: heard() == ids, 20), f"{len(heard())} of {len(ids)} arrived"
    backend.receipt(TERMINAL, sorted(ids))
    assert wait_until(lambda: node.outbox.backlog() == 0, 10)
