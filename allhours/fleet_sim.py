"""A fleet simulator: light terminals that speak the real contract over mutual TLS.

Each simulated terminal is enrolled through the site's real provisioning (a one-time token per
terminal, a key made on the simulator's side, the CSR spent against the token; nothing but the
HTTPS transport is skipped, so it needs the operator's CA directory and runs on the backend
host), connects to the broker with its own certificate, registers its signed retained `offline`
will, publishes its signed retained `online` status with a connection number, heartbeats every
third of the keep-alive and telemetry every period (a printer whose paper runs down).

Commands are answered as the real terminal answers them (cloud_bridge/commands.py): each is
verified against the backend's signing keys and its sequence number, acked `received`, then
`done` (an expired one `expired`); a command seen before gets its first answer again, an old
sequence number none. The session is persistent, so what the backend sends while a terminal is
away reaches it when it is back.

All terminals share one thread: paho clients driven by a selector (no thread per terminal), so
thousands fit one process. Faults on demand: `drop` (the socket closed without DISCONNECT: the
broker publishes the will), `silence` (nothing read or written any more, the process alive: a
silently cut network), `resume`, and `flap` (dropped and back every period).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing, topics
from cloud_bridge.contract.signing import BackendKeys, TerminalSigner
from provisioning import pki
from provisioning.authority import SiteAuthority
from provisioning.tls import ClientTls, write_private

log = logging.getLogger(__name__)
VERSION = "sim-1"
ENROLL_THREADS = 8
ADMIT_EVERY = 100


def enroll_fleet(
    authority: SiteAuthority,
    ids: list[str],
    directory: Path,
    register: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Enroll every terminal through the token flow (idempotent: kept identities are reused).

    `register(terminal_id)` makes the backend know it, inside the enrollment as the HTTPS
    endpoint does (if it fails, the token is not spent).
    """
    out: dict[str, Path] = {}

    def prepare(tid: str, _broker: str | None) -> dict:
        if register is not None:
            register(tid)
        return {}

    def one(tid: str) -> Path:
        d = directory / tid
        files = ClientTls.in_dir(d)
        if not files.cert_file.exists():
            key = pki.new_key()
            token = authority.issue_token(tid, created_by="fleet-sim")
            cert, _ = authority.enroll(str(token), pki.make_csr(key, tid), prepare)
            write_private(files.key_file, pki.key_pem(key))
            write_private(files.cert_file, pki.cert_pem(cert), mode=0o644)
            write_private(files.ca_file, authority.ca_pem, mode=0o644)
        return d

    # Several at once: each waits mostly on the registry's and the files' fsyncs, which overlap
    # (the registry serialises its writers itself). Admitted at the brokers a hundred at a time:
    # one sync of thousands of new clients outlasts the broker's control timeout, and they
    # would connect but be mute.
    with ThreadPoolExecutor(max_workers=ENROLL_THREADS) as pool:
        for start in range(0, len(ids), ADMIT_EVERY):
            chunk = ids[start : start + ADMIT_EVERY]
            out.update(zip(chunk, pool.map(one, chunk), strict=True))
            if start + ADMIT_EVERY < len(ids):
                authority.publish()
    authority.publish()  # admit them at every running broker
    return out


@dataclass
class SimSettings:
    host: str = "127.0.0.1"
    port: int = 8883
    keepalive: int = 30
    telemetry_s: float = 60.0
    paper_pages: int = 400  # sheets on a roll; each telemetry period prints a few
    session_expiry_s: int = 7 * 86_400  # as the real terminal: commands wait for it


@dataclass
class SimTerminal:
    terminal_id: str
    files: ClientTls
    signer: TerminalSigner
    client: mqtt.Client | None = None
    connection: int = 0
    mode: str = "down"  # running | silent | down
    next_beat: float = 0.0
    next_telemetry: float = 0.0
    next_flap: float | None = None
    flap_s: float | None = None
    paper: int = 400
    connected: bool = False
    connects: int = 0
    reconnect_at: float | None = None  # lost without being told to: back after a pause
    sock: object | None = None  # the socket registered with the selector
    lost: int = 0
    beats: int = 0
    started_at: float = field(default_factory=time.time)
    last_seq: int = 0  # the last command sequence number applied
    answers: dict[str, m.AckOutcome] = field(default_factory=dict)  # by command id


class FleetSim:
    def __init__(
        self,
        identities: dict[str, Path],
        settings: SimSettings,
        backend_keys: tuple[str, ...] = (),
    ):
        self.settings = settings
        # Without the backend's keys no command can be verified: they are all refused.
        self._backend_keys = BackendKeys(backend_keys) if backend_keys else None
        self.commands_answered = 0
        self.commands_refused = 0
        self.terminals: dict[str, SimTerminal] = {}
        for tid, d in identities.items():
            files = ClientTls.in_dir(d)
            self.terminals[tid] = SimTerminal(
                tid,
                files,
                TerminalSigner.from_pem(files.key_file.read_bytes()),
                paper=settings.paper_pages,
            )
        # Connection numbers keep increasing across simulator runs, as a terminal's do on disk,
        # tenths of a second since 2023-11: the backend keeps them in a 32-bit column, and
        # time.time() * 10 overflowed it on PostgreSQL (every status dead-lettered).
        self._base = int((time.time() - 1_700_000_000) * 10)
        self._selector = selectors.DefaultSelector()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ messages

    def _status(self, t: SimTerminal, state: str, reason: str | None = None) -> m.Status:
        return m.Status(
            terminal_id=t.terminal_id,
            state=state,
            software_version=VERSION,
            since=m.utcnow(),
            connection=t.connection,
            keepalive_s=self.settings.keepalive,
            reason=reason,
        )

    def _props(self, t: SimTerminal, topic: str, body: bytes) -> Properties:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = (signing.SIG, t.signer.sign(topic, body))
        return props

    def _publish(self, t: SimTerminal, msg: m.Message, qos: int = 0, retain: bool = False):
        assert t.client is not None
        body = msg.encode()
        t.client.publish(
            msg.topic(), body, qos=qos, retain=retain, properties=self._props(t, msg.topic(), body)
        )

    # ------------------------------------------------------------ commands

    def _on_command(self, t: SimTerminal, msg: mqtt.MQTTMessage) -> None:
        """Verify, then ack `received` and the answer, as cloud_bridge/commands.py does."""
        try:
            if self._backend_keys is None:
                raise signing.SignatureError("no backend key to verify with")
            props = signing.user_properties(msg.properties)
            seq = int(props.get(signing.SEQ, "0"))
            self._backend_keys.verify(msg.topic, seq, msg.payload, props.get(signing.SIG))
            command = m.decode_from(msg.topic, msg.payload)
        except (signing.SignatureError, m.MalformedMessage, ValueError) as exc:
            self.commands_refused += 1
            log.warning("%s refused a command: %s", t.terminal_id, exc)
            return
        if not isinstance(command, m.Command):
            return
        seen = t.answers.get(command.message_id)
        if seen is not None:
            self._ack(t, command, seen)  # the first answer again, the handler not run again
            return
        if seq <= t.last_seq:
            self.commands_refused += 1
            return
        self._ack(t, command, m.AckOutcome.RECEIVED)
        outcome = m.AckOutcome.EXPIRED if command.expired() else m.AckOutcome.DONE
        t.last_seq, t.answers[command.message_id] = seq, outcome
        self._ack(t, command, outcome)
        self.commands_answered += 1

    def _ack(self, t: SimTerminal, command: m.Command, outcome: m.AckOutcome) -> None:
        result = {"software_version": VERSION} if outcome == m.AckOutcome.DONE else {}
        ack = m.CommandAck(
            terminal_id=t.terminal_id,
            command_id=command.message_id,
            command_type=m.type_name(type(command)),
            operation_id=command.operation_id,
            outcome=outcome,
            result=result,
        )
        self._publish(t, ack, qos=1)

    def _telemetry(self, t: SimTerminal) -> m.Telemetry:
        t.paper = max(0, t.paper - 3)
        paper = "out" if t.paper == 0 else "low" if t.paper < 40 else "ok"
        return m.Telemetry(
            terminal_id=t.terminal_id,
            uptime_s=time.time() - t.started_at,
            outbox_backlog=0,
            compartments={"empty": 10, "holding_result": 2},
            devices={
                "lock_board": m.DeviceHealth(ok=True, data={"driver": "sim", "channels": 12}),
                "printer": m.DeviceHealth(
                    ok=paper != "out",
                    detail="" if paper == "ok" else f"paper {paper}",
                    data={"driver": "sim", "paper": paper, "online": True},
                ),
            },
            disk_free_bytes=40 * 2**30,
            disk_total_bytes=64 * 2**30,
        )

    # ------------------------------------------------------------ connections

    def _connect(self, t: SimTerminal) -> None:
        s = self.settings
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=t.terminal_id, protocol=mqtt.MQTTv5
        )
        client.tls_set_context(t.files.context())
        t.connection = self._base + t.connects
        t.connects += 1
        will = self._status(t, "offline", "connection_lost")
        body = will.encode()
        client.will_set(
            will.topic(), body, qos=1, retain=True, properties=self._props(t, will.topic(), body)
        )

        def on_connect(c, _u, _f, reason_code, _p, t=t) -> None:
            if reason_code.is_failure:
                return
            t.connected = True
            c.subscribe(topics.commands(t.terminal_id), qos=1)
            self._publish(t, self._status(t, "online"), qos=1, retain=True)
            now = time.monotonic()
            t.next_beat = now + s.keepalive / 3
            t.next_telemetry = now + s.telemetry_s

        def on_disconnect(*_args, t=t) -> None:
            t.connected = False

        def on_message(_c, _u, msg, t=t) -> None:
            self._on_command(t, msg)

        client.on_connect, client.on_disconnect = on_connect, on_disconnect
        client.on_message = on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = s.session_expiry_s
        # The TLS handshake, outside the lock; the session (and its commands) kept.
        client.connect(s.host, s.port, s.keepalive, clean_start=False, properties=props)
        with self._lock:
            t.client = client
            t.mode = "running"
            t.sock = client.socket()
            self._selector.register(t.sock, selectors.EVENT_READ, t)

    def _unregister(self, t: SimTerminal) -> None:
        if t.sock is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(t.sock)

    def _close(self, t: SimTerminal) -> None:
        if t.client is None:
            return
        if t.mode == "running":
            self._unregister(t)
        sock = t.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()  # no DISCONNECT: the broker publishes the will
        t.client, t.connected, t.mode, t.sock = None, False, "down", None

    def start(self) -> FleetSim:
        """Connect every terminal (serving those already up meanwhile); returns when done."""
        self._thread = threading.Thread(target=self._run, name="fleet-sim", daemon=True)
        self._thread.start()
        for t in self.terminals.values():
            self._connect(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for t in self.terminals.values():
                if t.client is not None and t.mode == "running":
                    with contextlib.suppress(Exception):
                        self._publish(t, self._status(t, "offline", "stopped"), 1, True)
                        t.client.loop_write()
                        t.client.disconnect()
                        t.client.loop_write()
                self._close(t)
        self._selector.close()

    # ------------------------------------------------------------ faults

    def drop(self, tid: str) -> None:
        with self._lock:
            self._close(self.terminals[tid])

    def silence(self, tid: str) -> None:
        """Stop reading and writing for `tid`, its socket left open: a silent network cut."""
        with self._lock:
            t = self.terminals[tid]
            if t.mode == "running":
                self._unregister(t)
            t.mode = "silent"

    def resume(self, tid: str) -> None:
        with self._lock:
            t = self.terminals[tid]
            self._close(t)
            self._connect(t)

    def flap(self, tid: str, period_s: float) -> None:
        with self._lock:
            t = self.terminals[tid]
            t.flap_s, t.next_flap = period_s, time.monotonic() + period_s

    def lost(self) -> int:
        """Connections lost without a fault being asked for (a health figure of the run)."""
        return sum(t.lost for t in self.terminals.values())

    def online(self) -> int:
        return sum(1 for t in self.terminals.values() if t.connected and t.mode == "running")

    # ------------------------------------------------------------ the loop

    def _run(self) -> None:
        last_misc = 0.0
        while not self._stop.is_set():
            try:
                events = self._selector.select(timeout=0.05)
            except (OSError, ValueError, KeyError):
                events = []
            with self._lock:
                for key, _ in events:
                    t = key.data
                    if t.client is not None and t.mode == "running":
                        t.client.loop_read()
                now = time.monotonic()
                misc = now - last_misc >= 0.5
                for t in self.terminals.values():
                    self._tick(t, now, misc)
                if misc:
                    last_misc = now

    def _tick(self, t: SimTerminal, now: float, misc: bool) -> None:
        if t.next_flap is not None and now >= t.next_flap and t.flap_s:
            t.next_flap = now + t.flap_s
            if t.mode == "running":
                self._close(t)
            else:
                self._connect(t)
            return
        if t.mode == "down" and t.reconnect_at is not None and now >= t.reconnect_at:
            t.reconnect_at = None
            self._connect(t)
            return
        if t.mode != "running" or t.client is None:
            return
        if t.connected and now >= t.next_beat:
            t.next_beat = now + self.settings.keepalive / 3
            self._publish(t, self._status(t, "online"))
            t.beats += 1
        if t.connected and now >= t.next_telemetry:
            t.next_telemetry = now + self.settings.telemetry_s
            self._publish(t, self._telemetry(t))
        if t.client.want_write():
            t.client.loop_write()
        if misc:
            t.client.loop_misc()
            if t.client.socket() is None:  # lost (keep-alive, broker): a terminal reconnects
                log.warning("%s lost its connection; reconnecting", t.terminal_id)
                t.lost += 1
                self._close(t)
                t.reconnect_at = now + 2.0
