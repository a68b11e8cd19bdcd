"""The whole story over a real Mosquitto, the real backend and an emulated terminal."""

from __future__ import annotations

import hashlib
import os
import pty
import re
import select as io_select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from e2e_spine import TERMINAL, Spine
from mqtt_clients import tls_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select

from allhours.story import (
    Citizen,
    citizen_picks_up,
    citizen_submits,
    staff_loads_results,
    staff_signs_in,
)
from backend.notifications.models import NotificationRow, NotificationState
from cloud_bridge.contract import signing, topics
from locker.compartment import State
from provisioning.authority import BACKEND
from terminal.flows.pickup import PickupRefused

pytestmark = pytest.mark.broker

ZHANG = Citizen(name="张三", id_number="11010519491231002X", phone="13800138000")
TAIL = ZHANG.phone[-4:]  # the second factor at the keypad (ADR 0011)
SAY = lambda s: None  # noqa: E731 - the story's narration is not under test here
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def _submit_and_ingest(spine: Spine) -> str:
    receipt = citizen_submits(spine.node, spine.devices, ZHANG, "HJ-0101", SAY)
    spine.wait_ingested(receipt.application_no, receipt.materials)
    return receipt.application_no


def _approve_and_load(spine: Spine, app_no: str) -> tuple[str, str]:
    """Staff approve and load; returns (compartment id, the code from the SMS)."""
    for step in ("accept", "review", "approve"):
        assert spine.api.post(f"/api/applications/{app_no}/{step}", json={}).status_code == 200
    r = spine.api.post(
        f"/api/applications/{app_no}/load-result",
        json={"terminal_id": TERMINAL, "size": "S"},
    )
    assert r.status_code == 200, r.text
    r = spine.api.post("/api/staff/terminal-code", json={"terminal_id": TERMINAL})
    assert r.status_code == 201, r.text
    member = staff_signs_in(spine.node, r.json()["code"], SAY)
    [slot] = staff_loads_results(spine.node, member, SAY, wait_s=20)
    history = spine.wait(
        "the load recorded with the clerk's name",
        lambda: [
            h for h in (spine.detail(app_no) or {}).get("history", []) if h["to"] == "result_loaded"
        ],
    )
    assert member.username == "e2e.staff"  # the clerk the API session belongs to
    assert history[-1]["actor"] == f"{member.username}@terminal:{TERMINAL}"
    codes = spine.wait("the pickup-code SMS", lambda: _pickup_codes(spine))
    spine.wait(
        "the code armed at the terminal",
        lambda: any(c.id == slot.id and c.code_digest for c in spine.node.locker.compartments()),
    )
    return slot.id, codes[0]


BROKER_LINE = re.compile(r"Mosquitto on mqtts://127\.0\.0\.1:(\d+)")


def _demo(tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "allhours.cli", "demo", "--workdir", str(tmp_path / "demo")]


def _stop(proc: subprocess.Popen) -> None:
    """After a failed check: SIGTERM, which stops the demo's broker too; SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _refused(port: int) -> bool:
    """Whether nothing listens on this loopback port any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return True
    return False


def test_allhours_demo_exits_zero_after_the_compartment_really_opened(tmp_path: Path):
    proc = subprocess.run(
        _demo(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"pickup\s+compartment opened", proc.stdout)
    assert "picked_up" in proc.stdout
    # The clear code is never printed, not even by the demo's stand-in for the phone.
    assert "••••••" in proc.stdout
    # Without a terminal nothing stays up behind the exit, and the demo says so.
    assert "The servers stop now" in proc.stdout and "Ctrl-C to stop" not in proc.stdout


def test_a_demo_stopped_mid_story_stops_its_broker_too(tmp_path: Path):
    proc = subprocess.Popen(
        _demo(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if broker := BROKER_LINE.search(line):
                break
        assert broker, "".join(lines)
        proc.send_signal(signal.SIGTERM)  # `timeout`, a cancelled job, a service manager
        rest = proc.stdout.read()
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM, rest
        assert _refused(int(broker[1]))  # its Mosquitto, in a session of its own, stopped too
    finally:
        _stop(proc)


def _read_until(fd: int, pattern: re.Pattern[str], timeout: float) -> tuple[str, re.Match[str]]:
    """Read a pseudo-terminal until `pattern` shows up in what was written to it."""
    text, deadline = "", time.monotonic() + timeout
    while (found := pattern.search(text)) is None:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; the demo wrote:\n{text[-3000:]}"
        if io_select.select([fd], [], [], left)[0]:
            try:
                text += os.read(fd, 65536).decode(errors="replace")
            except OSError:  # the demo closed its terminal: it exited
                raise AssertionError(f"the demo ended; it wrote:\n{text[-3000:]}") from None
    return text, found


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "terminal-closed"])
def test_at_a_terminal_the_demo_leaves_the_console_up_until_stopped(tmp_path: Path, stop):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        _demo(tmp_path),
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    try:
        text, _ = _read_until(leader, re.compile(r"Ctrl-C to stop"), timeout=150)
        assert re.search(r"pickup\s+compartment opened", text)
        broker = BROKER_LINE.search(text)
        assert broker, text
        console = re.search(r"console\s+(http://\S+/console/)", text)
        login = re.search(r"sign in\s+(\S+) / (\S+)", text)
        assert console and login, text
        base = console[1].removesuffix("/console/")
        # What the summary says to do works: the console is served, the clerk signs in.
        with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as web:
            assert web.get("/console/").url.path == "/console/login"
            signed = web.post("/api/session", json={"username": login[1], "password": login[2]})
            assert signed.status_code == 200, signed.text
            queue = web.get("/console/")
            assert (queue.status_code, queue.url.path) == (200, "/console/queue")
        proc.send_signal(stop)
        with pytest.raises(AssertionError, match="the demo ended"):  # read on: it never blocks
            _read_until(leader, re.compile(r"(?!)"), timeout=60)
        assert proc.wait(timeout=10) == 0
        # Everything it started stopped with it: Mosquitto runs in a session of its own, and
        # a closed terminal left it running.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/console/", timeout=5)
        assert _refused(int(broker[1]))
    finally:
        _stop(proc)
        os.close(leader)


def test_the_whole_story_ends_with_the_right_compartment_open_and_the_backend_told(spine: Spine):
    app_no = _submit_and_ingest(spine)
    compartment, code = _approve_and_load(spine, app_no)
    channel = next(c.spec.channel for c in spine.node.locker.compartments() if c.id == compartment)

    opened = citizen_picks_up(spine.node, code, SAY, TAIL)

    assert opened.compartment_id == compartment
    assert spine.devices.board.pulses[-1][0] == channel
    final = spine.wait(
        "picked_up at the backend",
        lambda: (d := spine.detail(app_no)) and d["status"] == "picked_up" and d,
    )
    assert [h["to"] for h in final["history"]][-1] == "picked_up"


def test_with_the_broker_down_the_citizen_gets_a_receipt_and_nothing_is_lost(spine: Spine):
    spine.broker.stop()
    spine.wait("the terminal to notice", lambda: not spine.node.link.connected.is_set())

    receipt = citizen_submits(spine.node, spine.devices, ZHANG, "HJ-0101", SAY)
    assert receipt.sent_now is False
    assert spine.node.outbox.backlog() > 0

    spine.broker.start()  # same port, same persistence file
    # Mosquitto 2.0 forgets shared subscriptions over a restart, so anything published before
    # the backend re-subscribes is dropped by the broker; the outbox re-sends it (10 s).
    spine.wait_ingested(receipt.application_no, receipt.materials, timeout=45)
    # The deposit is its own event; after a restart it may land a moment after the files.
    detail = spine.wait(
        "the deposit at the backend",
        lambda: (d := spine.detail(receipt.application_no)) and d["deposit_compartment_id"] and d,
        timeout=30,
    )

    apps = spine.api.get("/api/applications").json()
    assert [a["application_no"] for a in apps] == [receipt.application_no]
    assert detail["deposit_compartment_id"] == receipt.deposit_compartment
    blob_root = spine.backend.service.blobs
    for material in detail["materials"]:
        data = blob_root.path_for(material["sha256"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == material["sha256"]
        assert len(data) == material["size"]
    spine.wait("the outbox to drain", lambda: spine.node.outbox.backlog() == 0)
    assert [p for p in (spine.node.data_dir / "blobs").rglob("*") if p.is_file()] == []


def _sms_waiting(spine: Spine) -> int:
    with spine.backend.service.db.transaction() as session:
        query = select(func.count()).where(NotificationRow.state.in_(NotificationState.WAITING))
        return int(session.scalar(query) or 0)


def test_replaying_everything_the_terminal_sent_changes_nothing(spine: Spine):
    """A broker (or anyone holding the terminal's key) replays every message, signatures and all."""
    captured: list[tuple[str, bytes, Properties]] = []
    lock = threading.Lock()
    # The spy holds a backend worker's certificate: a terminal's could not read these topics.
    spy = tls_client(spine.broker, "backend.replay-spy", BACKEND)

    def on_message(client, userdata, msg):
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = list(signing.user_properties(msg.properties).items())
        with lock:
            captured.append((msg.topic, msg.payload, props))

    spy.on_message = on_message
    spy.connect(spine.broker.host, spine.broker.port)
    spy.subscribe(
        [
            (f"{topics.ROOT}/terminals/{TERMINAL}/events/#", 1),
            (topics.blobs(TERMINAL), 1),
            (topics.acks(TERMINAL), 1),
        ]
    )
    spy.loop_start()
    try:
        app_no = _submit_and_ingest(spine)
        _, code = _approve_and_load(spine, app_no)
        citizen_picks_up(spine.node, code, SAY, TAIL)
        spine.wait("picked_up", lambda: spine.detail(app_no)["status"] == "picked_up")
        spine.wait("the outbox to drain", lambda: spine.node.outbox.backlog() == 0)
        spine.wait("every SMS of the story sent", lambda: _sms_waiting(spine) == 0)
        before = {
            "apps": spine.api.get("/api/applications").json(),
            "sms": len(spine.backend.sms_emulator.received),
            "commands": spine.api.get("/api/commands").json(),
            "detail": spine.detail(app_no),
        }
        stats_before = spine.api.get("/api/ingest/stats").json()
        with lock:
            replay = list(captured)
        assert len(replay) > 10
        # Only the terminal's own certificate may publish under its topics: the replay uses it,
        # once the terminal itself has gone quiet.
        spine.node.link.stop()
        replayer = tls_client(spine.broker, TERMINAL, files=spine.node.link.settings.tls)
        replayer.connect(spine.broker.host, spine.broker.port)
        replayer.loop_start()
        try:
            for topic, payload, props in replay:
                replayer.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)
        finally:
            replayer.disconnect()
            replayer.loop_stop()
        spine.wait(
            "every replayed message counted as a duplicate",
            lambda: (
                spine.api.get("/api/ingest/stats").json()["duplicate"]
                >= stats_before["duplicate"] + len(replay)
            ),
        )
    finally:
        spy.loop_stop()
        spy.disconnect()
    after = {
        "apps": spine.api.get("/api/applications").json(),
        "sms": len(spine.backend.sms_emulator.received),
        "commands": spine.api.get("/api/commands").json(),
        "detail": spine.detail(app_no),
    }
    assert after == before


def test_wrong_codes_never_open_anything_and_raise_an_alarm_at_the_backend(spine: Spine):
    app_no = _submit_and_ingest(spine)
    compartment, code = _approve_and_load(spine, app_no)
    pulses = list(spine.devices.board.pulses)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    reasons = []
    for attempt in range(5):
        with pytest.raises(PickupRefused) as refused:
            citizen_picks_up(spine.node, wrong, SAY, TAIL)
        reasons.append((refused.value.reason, refused.value.retry_after_s))
        if attempt < 4:
            spine.clock.advance(refused.value.retry_after_s + 1)
    # During the lockout even the right code is refused, without being checked.
    with pytest.raises(PickupRefused) as refused:
        citizen_picks_up(spine.node, code, SAY, TAIL)
    assert refused.value.reason == "locked_out"
    assert [r for r, _ in reasons] == ["wrong"] * 5
    delays = [d for _, d in reasons]
    assert delays[:3] == [0, 0, 0] and 0 < delays[3] < delays[4]
    assert spine.devices.board.pulses == pulses  # nothing was driven

    terminal = spine.wait(
        "the alarm at the backend",
        lambda: next(
            (
                t
                for t in spine.api.get("/api/terminals").json()
                if t["terminal_id"] == TERMINAL
                and any(a["kind"] == "wrong_code_limit" for a in t["open_alarms"])
            ),
            None,
        ),
    )
    assert terminal
    slot = next(c for c in spine.node.locker.compartments() if c.id == compartment)
    assert slot.state == State.HOLDING_RESULT


def test_an_expired_code_is_refused_with_a_clear_message(spine: Spine):
    app_no = _submit_and_ingest(spine)
    _, code = _approve_and_load(spine, app_no)
    spine.clock.advance(8 * 24 * 3600)  # codes live 7 days
    with pytest.raises(PickupRefused) as refused:
        citizen_picks_up(spine.node, code, SAY, TAIL)
    assert refused.value.reason == "expired"
    assert refused.value.key == "pickup.refused.expired"  # the kiosk's words, as on screen
    assert "expired" in str(refused.value) and "service hall" in str(refused.value)
    assert spine.detail(app_no)["status"] == "result_loaded"


def _pickup_codes(spine: Spine) -> list[str]:
    """Codes in the pickup SMSes the applicant's phone received, newest first."""
    texts = [s.text for s in spine.backend.sms_emulator.inbox(ZHANG.phone) if "取件码" in s.text]
    return [m.group(1) for m in map(CODE.search, reversed(texts)) if m]


def test_resend_code_rotates_so_only_the_new_code_opens(spine: Spine):
    app_no = _submit_and_ingest(spine)
    compartment, old = _approve_and_load(spine, app_no)

    r = spine.api.post(f"/api/applications/{app_no}/resend-code", json={})
    assert r.status_code == 200, r.text
    # A notification template may reach one number 50 times a day: the new code goes at once.
    codes = spine.wait(
        "the second code SMS", lambda: (c := _pickup_codes(spine)) and len(c) >= 2 and c
    )
    new = codes[0]
    if new == old:
        pytest.skip("the new random code happened to equal the old one (1 in a million)")
    spine.wait("the rotation acknowledged by the terminal", lambda: _rotation_done(spine))

    with pytest.raises(PickupRefused) as refused:
        citizen_picks_up(spine.node, old, SAY, TAIL)
    assert refused.value.reason == "wrong"
    opened = citizen_picks_up(spine.node, new, SAY, TAIL)
    assert opened.compartment_id == compartment


def _rotation_done(spine: Spine) -> bool:
    cmds = spine.api.get("/api/commands", params={"terminal_id": TERMINAL}).json()
    codes = [c for c in cmds if c["type"] == "command.set_pickup_code"]
    return len(codes) >= 2 and all(
        c["status"] not in ("queued", "sent", "delivered") for c in codes
    )


def test_the_backend_key_rotates_with_no_downtime(spine: Spine):
    """Announce a next key, let the terminal learn it, promote it: commands keep arriving."""
    authority = spine.backend.authority
    old = authority.backend_signing_keys()
    new_list = authority.rotate_signing_key("announce")
    assert spine.node.link.check_identity()  # the terminal's periodic check, run now
    assert set(new_list) <= set(spine.node.link.identity.backend_keys)

    authority.rotate_signing_key("promote")  # the running backend signs with it from now on
    app_no = _submit_and_ingest(spine)
    compartment, code = _approve_and_load(spine, app_no)  # commands signed with the new key

    opened = citizen_picks_up(spine.node, code, SAY, TAIL)
    assert opened.compartment_id == compartment
    authority.rotate_signing_key("retire")
    assert old[0] not in authority.backend_signing_keys()
    assert spine.node.link.forged == 0
