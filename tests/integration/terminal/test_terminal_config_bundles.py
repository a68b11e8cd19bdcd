"""Configuration bundles over the wire: signed, applied atomically, rolled back when unhealthy.

A real mutual-TLS Mosquitto, the backend's side as the fake backend (signed commands with
sequence numbers), and a terminal node on emulated devices whose locker has no large
compartment, so a catalog asking for one breaks its health check.
"""

from __future__ import annotations

import copy
import time
import tomllib
from datetime import timedelta

import pytest
from enrolled_terminal import enrolled_for
from terminal_integration_parts import TERMINAL, FakeBackend, acks_for, wait_online

from allhours.bootstrap import training_terminal
from allhours.wiring import EmulatedDevices
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.catalog import BUILTIN_PATH, find_item
from locker.layout import CompartmentSpec, Size
from terminal.update_health import read_report

pytestmark = pytest.mark.broker

SMALL_LOCKER = [CompartmentSpec(f"A{n:02d}", Size.S if n <= 4 else Size.M, n) for n in range(1, 8)]


def _doc(version: str) -> dict:
    doc = copy.deepcopy(tomllib.loads(BUILTIN_PATH.read_text(encoding="utf-8")))
    doc["version"] = version
    return doc


def _item(doc: dict, code: str) -> dict:
    return next(i for i in doc["item"] if i["code"] == code)


def _bundle(doc: dict) -> m.ApplyConfigBundle:
    return m.ApplyConfigBundle(
        terminal_id=TERMINAL,
        operation_id=doc.get("version", "x"),
        bundle_version=doc.get("version", "x"),
        catalog=doc,
        expires_at=m.utcnow() + timedelta(minutes=5),
    )


def _node(broker, data_dir):
    return training_terminal(
        enrolled_for(broker, data_dir, TERMINAL), devices=EmulatedDevices(layout=SMALL_LOCKER)
    ).node


def _ack(backend: FakeBackend, command: m.Message) -> m.CommandAck:
    backend.command(command)
    assert backend.wait_for(lambda: acks_for(backend, command), timeout=30)
    return acks_for(backend, command)[0]


def _sb_fee(node) -> int:
    return find_item("SB-0203", node.parts.catalog).fee_fen


def test_a_bundle_runs_survives_a_restart_and_a_breaking_one_is_rolled_back(tmp_path, broker):
    backend = FakeBackend(broker).start()
    node = _node(broker, tmp_path / "t").start()
    try:
        wait_online(backend)
        assert node.config.active_version() == "builtin" and _sb_fee(node) == 0

        # A district sets a fee on one item: the terminal runs it and says which version.
        good = _doc("dc-2026.12-1")
        _item(good, "SB-0203")["fee_fen"] = 500
        ack = _ack(backend, _bundle(good))
        assert ack.outcome == m.AckOutcome.DONE, ack.detail
        assert ack.result == {"config_version": "dc-2026.12-1", "previous": "builtin"}
        assert _sb_fee(node) == 500
        report = node.health.write()
        assert report["config_version"] == "dc-2026.12-1" and report["ok"]

        # A bundle asking for large compartments this locker lacks breaks the health check:
        # the terminal goes back by itself and the ack says why.
        bad = _doc("dc-2026.12-2")
        _item(bad, "GS-0307")["pickup"]["result_size"] = "L"
        _item(bad, "SB-0203")["fee_fen"] = 900
        ack = _ack(backend, _bundle(bad))
        assert ack.outcome == m.AckOutcome.REJECTED
        assert ack.detail == (
            "rolled back to dc-2026.12-1: catalog: GS-0307 needs a size L compartment,"
            " the largest is M"
        )
        assert node.config.active_version() == "dc-2026.12-1" and _sb_fee(node) == 500
        assert node.health.write()["ok"]

        # A malformed one is refused before anything changes.
        broken = _doc("dc-2026.12-3")
        _item(broken, "SB-0203")["promised_days"] = 99
        ack = _ack(backend, _bundle(broken))
        assert ack.outcome == m.AckOutcome.REJECTED
        assert "promised 99 days, beyond the legal 3" in ack.detail
        assert node.config.active_version() == "dc-2026.12-1"
    finally:
        node.stop()

    # After a restart the terminal runs the bundle it had kept.
    again = _node(broker, tmp_path / "t").start()
    try:
        assert again.config.active_version() == "dc-2026.12-1" and _sb_fee(again) == 500
        # An operator rolls back to the configuration before it.
        wait_online(backend)
        rollback = m.RollbackConfigBundle(
            terminal_id=TERMINAL,
            operation_id="rollback-dc-2026.12-1",
            reason="fee set by mistake",
            expires_at=m.utcnow() + timedelta(minutes=5),
        )
        ack = _ack(backend, rollback)
        assert ack.outcome == m.AckOutcome.DONE, ack.detail
        assert ack.result["config_version"] == "builtin" and _sb_fee(again) == 0
        deadline = time.monotonic() + 30
        while read_report(tmp_path / "t")["config_version"] != "builtin":
            assert time.monotonic() < deadline, "health report never showed the rollback"
            time.sleep(0.2)
    finally:
        again.stop()
        backend.stop()


def _parts(version: str, **parts) -> m.ApplyConfigBundle:
    return m.ApplyConfigBundle(
        terminal_id=TERMINAL,
        operation_id=version,
        bundle_version=version,
        expires_at=m.utcnow() + timedelta(minutes=5),
        **parts,
    )


def _layout(specs, *extra: dict) -> list[dict]:
    rows = [
        {"id": c.id, "size": c.size.value, "board": c.board, "channel": c.channel, "door": "none"}
        for c in specs
    ]
    return rows + list(extra)


def test_layout_and_settings_bundles_are_checked_applied_together_and_kept(tmp_path, broker):
    backend = FakeBackend(broker).start()
    node = _node(broker, tmp_path / "t").start()
    try:
        wait_online(backend)
        heard: list[dict] = []
        node.settings_listeners.append(heard.append)

        # Settings outside the allow-list, or outside the settings model's limits: refused.
        ack = _ack(backend, _parts("s-1", settings={"link": {"broker_via": "10.0.0.9:8883"}}))
        assert ack.outcome == m.AckOutcome.REJECTED
        assert "settings: link.broker_via may not change remotely" in ack.detail
        ack = _ack(backend, _parts("s-2", settings={"kiosk": {"idle_timeout_s": 5}}))
        assert ack.outcome == m.AckOutcome.REJECTED
        assert "settings: kiosk.idle_timeout_s: Input should be greater than or equal to 15" in (
            ack.detail
        )
        assert node.config.active_version() == "builtin" and heard == []
        ack = _ack(backend, _parts("s-3", settings={"kiosk": {"idle_timeout_s": 120}}))
        assert ack.outcome == m.AckOutcome.DONE, ack.detail
        assert node.remote_settings == {"kiosk": {"idle_timeout_s": 120.0}} == heard[-1]

        # A deposit sits in a medium compartment; a layout without it is refused, and nothing
        # changes.
        slot = node.locker.reserve_for_deposit("AH-T0001-20261204-0001", Size.M)
        node.locker.confirm_deposit(slot.spec.id)
        held = slot.spec.id
        without = [c for c in SMALL_LOCKER if c.id != held]
        ack = _ack(backend, _parts("l-1", layout=_layout(without)))
        assert ack.outcome == m.AckOutcome.REJECTED
        assert ack.detail == (
            f"bundle l-1 refused: layout: {held} is holding_deposit (AH-T0001-20261204-0001)"
            f" and the new layout has no {held}"
        )
        assert node.config.active_version() == "s-3" and len(node.locker.compartments()) == 7
        # A layout naming a board this terminal lacks is refused too.
        ack = _ack(
            backend,
            _parts(
                "l-2",
                layout=_layout(
                    SMALL_LOCKER,
                    {"id": "B01", "size": "L", "board": "x", "channel": 1, "door": "none"},
                ),
            ),
        )
        assert ack.outcome == m.AckOutcome.REJECTED and "no lock board 'x'" in ack.detail

        # A large compartment added on channel 8, with a catalog that needs one: one bundle,
        # applied together (alone, the catalog would fail the health check).
        catalog = _doc("l-3")
        _item(catalog, "GS-0307")["pickup"]["result_size"] = "L"
        large = {"id": "A08", "size": "L", "board": "main", "channel": 8, "door": "none"}
        ack = _ack(backend, _parts("l-3", catalog=catalog, layout=_layout(SMALL_LOCKER, large)))
        assert ack.outcome == m.AckOutcome.DONE, ack.detail
        by_id = {c.spec.id: c for c in node.locker.compartments()}
        assert by_id["A08"].spec.size == Size.L and by_id[held].state.value == "holding_deposit"
        assert node.remote_settings == {"kiosk": {"idle_timeout_s": 120.0}}  # carried forward
        assert node.health.write()["ok"]
    finally:
        node.stop()

    # After a restart the terminal builds its locker and settings from the kept configuration.
    again = _node(broker, tmp_path / "t").start()
    try:
        assert again.config.active_version() == "l-3"
        by_id = {c.spec.id: c for c in again.locker.compartments()}
        assert by_id["A08"].spec.size == Size.L and by_id[held].state.value == "holding_deposit"
        assert again.remote_settings == {"kiosk": {"idle_timeout_s": 120.0}}
        assert find_item("GS-0307", again.parts.catalog).result_size == "L"
    finally:
        again.stop()
        backend.stop()
