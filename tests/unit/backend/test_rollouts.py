"""Staged rollouts on the real database and ingest: stages, the abort threshold, pause, restart.

The terminals' answers are real contract messages (CommandAck, event.software_update) fed
through the backend's ingest, as they arrive from the broker.
"""

from __future__ import annotations

import copy
import tomllib
from datetime import timedelta

import pytest
from backend_unit_factories import KEY

from backend import terminal_groups
from backend.models import utcnow
from backend.rollout_tables import RolloutEvent
from backend.rollouts import RolloutRefused, Rollouts, Threshold, detail, software_payload
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.catalog import BUILTIN_PATH

PILOT, DISTRICT = ["T0001", "T0002"], ["T0003", "T0004"]
SHA = "ab" * 32


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now


@pytest.fixture
def fleet(backend):
    for t in PILOT + DISTRICT:
        backend.ingest.register_terminal(t, KEY)
    with backend.db.transaction() as s:
        terminal_groups.create(s, "pilot", "two lobbies", "admin.wang")
        terminal_groups.add_members(s, "pilot", PILOT, "admin.wang")
        terminal_groups.create(s, "dongcheng", "the district", "admin.wang")
        terminal_groups.add_members(s, "dongcheng", PILOT + DISTRICT, "admin.wang")
    return backend


def _software(version: str = "0.2.0") -> dict:
    return software_payload(version, f"https://rel.example/allhours-{version}.tar.gz", SHA, 1000)


def _catalog(version: str) -> dict:
    doc = copy.deepcopy(tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8")))
    doc["version"] = version
    return doc


def _ack(cmd: m.Command, outcome: str = "done", detail: str = "", **result: str) -> m.CommandAck:
    return m.CommandAck(
        terminal_id=cmd.terminal_id,
        command_id=cmd.message_id,
        command_type=m.type_name(type(cmd)),
        operation_id=cmd.operation_id,
        outcome=outcome,
        detail=detail,
        result=result,
    )


def _outcome(cmd: m.UpdateSoftware, ok: bool, detail: str, running: str) -> m.SoftwareUpdated:
    return m.SoftwareUpdated(
        terminal_id=cmd.terminal_id,
        operation_id=cmd.operation_id,
        version=cmd.version,
        ok=ok,
        running=running,
        rolled_back=not ok,
        detail=detail,
    )


def _sent_to(backend, start: int = 0) -> list[str]:
    return sorted(c.terminal_id for c in backend.publisher.sent[start:])


def _targets(backend, rollout_id: int) -> dict[str, str]:
    with backend.db.transaction() as s:
        return {t["terminal_id"]: t["state"] for t in detail(s, rollout_id)["targets"]}


def _state(backend, rollout_id: int) -> dict:
    with backend.db.transaction() as s:
        return detail(s, rollout_id)


def test_a_good_version_goes_to_the_pilot_then_to_the_rest_of_the_district(fleet):
    keys = ("ab" * 32, "cd" * 32)  # what terminals trust now: current, next
    ro = Rollouts(fleet.db, fleet.publisher, backend_keys=lambda: keys)
    rid = ro.start("software", ["pilot", "dongcheng"], "op.li", software=_software())

    assert _sent_to(fleet) == PILOT  # stage 1 only
    assert ro.tick() == 0  # nothing back yet: stage 2 waits
    pilot = list(fleet.publisher.sent)
    fleet.feed(*[_ack(c, detail="accepted: fetching 0.2.0") for c in pilot])
    ro.tick()
    assert set(_targets(fleet, rid).values()) == {"accepted", "waiting"}
    assert len(fleet.publisher.sent) == 2  # accepted is not an outcome yet

    fleet.feed(*[_outcome(c, True, "update to 0.2.0: healthy", "0.2.0") for c in pilot])
    assert ro.tick() == 2
    assert _sent_to(fleet, 2) == DISTRICT
    second = fleet.publisher.sent[2:]
    assert all(c.operation_id == f"rollout-{rid}" and c.sha256 == SHA for c in second)
    # Signed with each command, for the terminal's root updater to trust (key rotation).
    assert all(c.backend_keys == list(keys) for c in pilot + second)
    fleet.feed(*[_ack(c) for c in second])
    fleet.feed(*[_outcome(c, True, "update to 0.2.0: healthy", "0.2.0") for c in second])
    ro.tick()

    shown = _state(fleet, rid)
    assert shown["state"] == "done"
    assert shown["detail"] == "done: 4 of 4 terminals run 0.2.0"
    assert {t["running"] for t in shown["targets"]} == {"0.2.0"}
    assert [e["action"] for e in shown["events"]] == [
        "started",
        "stage_started",
        "stage_started",
        "done",
    ]


def test_a_version_failing_its_health_check_on_the_pilot_aborts_before_the_district(fleet):
    ro = Rollouts(fleet.db, fleet.publisher)
    rid = ro.start("software", ["pilot", "dongcheng"], "op.li", software=_software("0.3.0"))
    pilot = list(fleet.publisher.sent)
    fleet.feed(*[_ack(c, detail="accepted") for c in pilot])
    why = "0.3.0 unhealthy (screens: font for Chinese not found); rolled back to 0.2.0"
    fleet.feed(_outcome(pilot[0], False, why, "0.2.0"))
    ro.tick()

    shown = _state(fleet, rid)
    assert shown["state"] == "aborted"
    assert shown["detail"].startswith("abort threshold reached: 1 of 2 sent failed: T0001 (")
    assert why in shown["detail"]
    assert _targets(fleet, rid) == {
        "T0001": "failed",
        "T0002": "accepted",
        "T0003": "skipped",
        "T0004": "skipped",
    }
    # The late outcome of the other pilot is still recorded; nothing more is sent, ever.
    fleet.feed(_outcome(pilot[1], True, "healthy", "0.3.0"))
    ro.tick()
    assert _targets(fleet, rid)["T0002"] == "succeeded"
    assert _sent_to(fleet) == PILOT
    assert _state(fleet, rid)["events"][-1]["actor"] == "backend"


def test_a_terminal_refusing_the_command_counts_as_failed(fleet):
    ro = Rollouts(fleet.db, fleet.publisher)
    rid = ro.start(
        "software",
        ["pilot", "dongcheng"],
        "op.li",
        software=_software(),
        threshold=Threshold(failed=2),
    )
    first, second = fleet.publisher.sent
    fleet.feed(_ack(first, "rejected", "archive of 0.2.0: SHA-256 does not match the signed one"))
    fleet.feed(_ack(second), _outcome(second, True, "healthy", "0.2.0"))
    ro.tick()
    # One failure of two tolerated: the district goes ahead.
    assert _targets(fleet, rid)["T0001"] == "failed"
    assert _sent_to(fleet, 2) == DISTRICT
    assert _state(fleet, rid)["state"] == "running"


def test_the_failed_fraction_aborts_a_wide_stage(fleet):
    ro = Rollouts(fleet.db, fleet.publisher)
    rid = ro.start(
        "bundle",
        ["dongcheng"],
        "op.li",
        document=_catalog("dc-2027.01-1"),
        threshold=Threshold(failed=10, fraction=0.5),
    )
    sent = list(fleet.publisher.sent)
    fleet.feed(_ack(sent[0]), _ack(sent[1], "rejected", "rolled back to builtin: catalog: no L"))
    ro.tick()
    assert _state(fleet, rid)["state"] == "running"  # 1 of 4 sent
    fleet.feed(_ack(sent[2], "rejected", "rolled back to builtin: catalog: no L"))
    ro.tick()
    shown = _state(fleet, rid)
    assert shown["state"] == "aborted" and "2 of 4 sent failed" in shown["detail"]


def test_a_bundle_rollout_succeeds_by_the_acks_and_shows_the_version_run(fleet):
    ro = Rollouts(fleet.db, fleet.publisher)
    rid = ro.start("bundle", ["pilot", "all"], "op.li", document=_catalog("dc-2027.01-1"))
    assert all(isinstance(c, m.ApplyConfigBundle) for c in fleet.publisher.sent)
    fleet.feed(*[_ack(c, config_version="dc-2027.01-1") for c in fleet.publisher.sent])
    ro.tick()
    fleet.feed(*[_ack(c, config_version="dc-2027.01-1") for c in fleet.publisher.sent[2:]])
    ro.tick()
    shown = _state(fleet, rid)
    assert shown["state"] == "done"
    assert [(s["group"], s["terminals"]) for s in shown["stages"]] == [("pilot", 2), ("all", 2)]
    assert {t["running"] for t in shown["targets"]} == {"dc-2027.01-1"}


def test_paused_no_stage_starts_and_resumed_it_goes_on(fleet):
    ro = Rollouts(fleet.db, fleet.publisher)
    rid = ro.start("software", ["pilot", "dongcheng"], "op.li", software=_software())
    ro.pause(rid, "op.li", "the lobby at site 3 is closed tonight")
    for c in list(fleet.publisher.sent):
        fleet.feed(_ack(c), _outcome(c, True, "healthy", "0.2.0"))
    assert ro.tick() == 0
    assert _state(fleet, rid)["state"] == "paused"
    ro.resume(rid, "op.zhao", "site 3 open again")
    assert _sent_to(fleet, 2) == DISTRICT
    events = _state(fleet, rid)["events"]
    assert [(e["action"], e["actor"]) for e in events if e["actor"] != "backend"] == [
        ("started", "op.li"),
        ("paused", "op.li"),
        ("resumed", "op.zhao"),
    ]
    with pytest.raises(RolloutRefused, match="is running; cannot be resumed"):
        ro.resume(rid, "op.li")


def test_an_operator_abort_skips_the_rest_and_withdraws_what_was_not_taken(fleet):
    ro = Rollouts(fleet.db, fleet.publisher)
    rid = ro.start("software", ["pilot", "dongcheng"], "op.li", software=_software())
    ro.abort(rid, "op.li", "wrong archive")
    shown = _state(fleet, rid)
    assert shown["state"] == "aborted" and shown["detail"] == "aborted by op.li: wrong archive"
    assert set(_targets(fleet, rid).values()) <= {"skipped", "sent"}
    assert {t: s for t, s in _targets(fleet, rid).items() if t in DISTRICT} == {
        "T0003": "skipped",
        "T0004": "skipped",
    }
    assert ro.tick() == 0 and _sent_to(fleet) == PILOT
    with pytest.raises(RolloutRefused):
        ro.resume(rid, "op.li", "")


def test_a_terminal_silent_past_the_wait_counts_as_failed(fleet):
    clock = Clock()
    ro = Rollouts(fleet.db, fleet.publisher, clock)
    rid = ro.start("software", ["pilot"], "op.li", software=_software(), wait=timedelta(minutes=30))
    clock.now += timedelta(minutes=31)
    ro.tick()
    shown = _state(fleet, rid)
    assert shown["state"] == "aborted"
    assert {t["detail"] for t in shown["targets"]} == {"no outcome within 1800 s"}


def test_the_rollout_goes_on_after_a_backend_restart(fleet):
    rid = Rollouts(fleet.db, fleet.publisher).start(
        "software", ["pilot", "dongcheng"], "op.li", software=_software()
    )
    for c in list(fleet.publisher.sent):
        fleet.feed(_ack(c), _outcome(c, True, "healthy", "0.2.0"))
    # A new process: a new engine over the same database picks it up where it was.
    assert Rollouts(fleet.db, fleet.publisher).tick() == 2
    assert _sent_to(fleet, 2) == DISTRICT
    assert _state(fleet, rid)["stage"] == 2


def test_what_cannot_start_is_refused_with_the_reason(fleet):
    ro = Rollouts(fleet.db, fleet.publisher)
    with pytest.raises(RolloutRefused, match="no group east"):
        ro.start("software", ["pilot", "east"], "op.li", software=_software())
    with pytest.raises(RolloutRefused, match="https"):
        software_payload("0.2.0", "http://rel.example/a.tar.gz", SHA, 10)
    with pytest.raises(RolloutRefused, match="size_bytes"):
        software_payload("0.2.0", "https://rel.example/a.tar.gz", SHA, 2 * 1024**3)
    with pytest.raises(RolloutRefused, match="version"):
        software_payload("../0.2", "https://rel.example/a.tar.gz", SHA, 10)
    with pytest.raises(RolloutRefused, match="catalog"):
        ro.start("bundle", ["pilot"], "op.li", document={"version": "x"})
    with pytest.raises(RolloutRefused, match="twice"):
        ro.start("software", ["pilot", "pilot"], "op.li", software=_software())
    with fleet.db.transaction() as s:
        terminal_groups.create(s, "empty", "", "op.li")
    with pytest.raises(RolloutRefused, match="no terminal"):
        ro.start("software", ["empty"], "op.li", software=_software())
    assert fleet.publisher.sent == []
    assert fleet.count(RolloutEvent) == 5  # the group changes only: no rollout was recorded
