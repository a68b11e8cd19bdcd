"""The terminal's MQTT 5 session with the backend.

One paho client per terminal: client id = terminal id, clean start off with a session expiry,
so commands queued while the terminal was away are delivered when it returns. A retained
`online` status on connect and a retained `offline` last will. A sender thread drains the
durable outbox; receipts settle it; commands go to the dispatcher on a worker thread and are
acknowledged to the broker only after they have been handled and their ack is on disk.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from provisioning.tls import ClientTls

from .commands import CommandDispatcher
from .contract import messages as m
from .contract import signing, topics
from .link_identity import LinkIdentity
from .link_presence import LinkPresence
from .link_unheard import UnheardPublishes
from .outbox import Outbox, OutboxError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class LinkSettings:
    """How a terminal reaches its broker."""

    host: str = "127.0.0.1"
    port: int = 1883
    keepalive: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    # A message the broker took but lost (e.g. Mosquitto 2.0 drops shared subscriptions on
    # restart until the backend re-subscribes) is sent again after this long without receipt.
    resend_after_s: float = 10.0
    # A message the broker answered "no matching subscribers" (no backend subscribed yet) is
    # sent again after this, twice as long each round nobody hears, up to resend_after_s.
    unheard_first_s: float = 0.25
    window: int = 200
    telemetry_interval_s: float = 60.0
    # How often the online status is sent again as a heartbeat; None: a third of the keep-alive.
    heartbeat_s: float | None = None
    # A command whose recording fails (disk full, database locked) is tried this often.
    command_attempts: int = 3
    # The terminal's certificate, key and the site CA (from its enrollment). There is no plain
    # connection: a link without them refuses to start.
    tls: ClientTls | None = None
    # The backend's Ed25519 public keys (hex) from the enrollment bundle: every downstream
    # message must be signed by one of them (ADR 0007).
    backend_keys: tuple[str, ...] = ()
    # Called every `renewal_check_s`: the backend keys to trust when the certificate files or
    # those keys changed (the link then loads them and reconnects), else None
    # (provisioning.renewal).
    renewal: Callable[[], tuple[str, ...] | None] | None = None
    renewal_check_s: float = 6 * 3600.0


class LinkConfigError(RuntimeError):
    """The link cannot start as configured; the message says what is missing."""


class TerminalLink:
    """MQTT session, outbox sender, receipt settlement and command intake for one terminal."""

    def __init__(
        self,
        terminal_id: str,
        outbox: Outbox,
        dispatcher: CommandDispatcher,
        settings: LinkSettings,
        *,
        software_version: str,
        telemetry: Callable[[], m.Telemetry] | None = None,
        on_response: Callable[[m.Message], None] | None = None,
        on_security: Callable[[str], None] | None = None,
    ):
        self.terminal_id = topics.check_terminal_id(terminal_id)
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.settings = settings
        self.software_version = software_version
        self.telemetry_source = telemetry
        self.on_response = on_response
        self.on_security = on_security
        # Requests and their responses are optional: a broker ACL without them leaves the
        # terminal up, with requests answered by nobody (the caller's timeout decides).
        self.responses_granted = threading.Event()
        self.started_at = m.utcnow()
        self.connected = threading.Event()
        self.connections = 0
        self.connect_failures = 0
        self.forged = 0
        self.malformed = 0
        self.failed = 0  # inbound messages whose handling raised, and commands given up on
        self._stop = threading.Event()
        self._commands: queue.Queue[tuple[m.Command, signing.SignedDownstream, int, int] | None] = (
            queue.Queue()
        )
        self._threads: list[threading.Thread] = []
        self.identity: LinkIdentity | None = None
        self.presence = LinkPresence(
            self.terminal_id, outbox, software_version, settings.keepalive, self.started_at
        )
        self._connection_used = False  # this number's online status went out
        self.unheard = UnheardPublishes(settings.unheard_first_s, settings.resend_after_s)
        self._client = self._make_client()

    # ------------------------------------------------------------------ set-up

    def _set_will(self) -> None:
        """The retained offline status the broker publishes if this connection dies."""
        will = self.presence.will()
        body = will.encode()
        self._client.will_set(
            will.topic(), body, qos=1, retain=True, properties=self._signed(will.topic(), body)
        )

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.terminal_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.reconnect_delay_set(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(self.settings.window)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def start(self) -> None:
        """Connect in the background; keeps retrying with backoff until stop()."""
        if self.settings.tls is None:
            raise LinkConfigError(
                f"{self.terminal_id} has no certificate: enroll it first (allhours enroll)"
            )
        if not self.settings.backend_keys:
            raise LinkConfigError(f"{self.terminal_id} knows no backend key: enroll it again")
        self.identity = LinkIdentity(self.settings.tls, self.settings.backend_keys)
        self._set_will()
        self._client.tls_set_context(self.identity.context)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        # After a restart every unsettled entry is due at once; the backend drops duplicates.
        self.outbox.reset_sent()
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            self.settings.keepalive,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()
        for name, target in (("sender", self._send_loop), ("commands", self._command_loop)):
            t = threading.Thread(target=target, name=f"link-{name}-{self.terminal_id}", daemon=True)
            t.start()
            self._threads.append(t)
        loops = [("heartbeat", self.publish_heartbeat, self._heartbeat_s())]
        if self.telemetry_source:
            loops.append(("telemetry", self.publish_telemetry, self.settings.telemetry_interval_s))
        for name, publish, interval in loops:
            t = threading.Thread(
                target=self._every,
                args=(interval, publish),
                name=f"link-{name}-{self.terminal_id}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)
        if self.settings.renewal:
            t = threading.Thread(
                target=self._renewal_loop, name=f"link-renewal-{self.terminal_id}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Publish the retained offline status, disconnect and stop every thread."""
        self._stop.set()
        self.outbox.changed.set()
        self._commands.put(None)
        for t in self._threads:
            t.join(timeout=10)
        self._threads.clear()
        if self.connected.is_set():
            off = self.presence.stopped()
            body = off.encode()
            info = self._client.publish(
                off.topic(), body, qos=1, retain=True, properties=self._signed(off.topic(), body)
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
            self._client.disconnect()
        self._client.loop_stop()

    def use_renewed_identity(self) -> None:
        """Present the renewed certificate from now on: load it, then reconnect with it.

        The outbox is untouched, so whatever was waiting is sent over the new connection.
        """
        assert self.identity is not None
        self.identity.reload()
        with contextlib.suppress(OSError, ValueError):
            self._client.reconnect()

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused connection: %s", reason_code)
            return
        self.connections += 1
        self.connect_failures = 0
        self.unheard.forget()
        # Nagle's algorithm would hold a message written just after an ack until the broker's
        # delayed ACK (40 ms on Linux): every request/response round trip paid it.
        with contextlib.suppress(OSError, AttributeError):
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe(
            [
                (topics.commands(self.terminal_id), 1),
                (topics.receipts(self.terminal_id), 1),
                (topics.responses(self.terminal_id), 1),
            ]
        )
        online = self.presence.online()
        self._connection_used = True
        body = online.encode()
        client.publish(
            online.topic(), body, qos=1, retain=True, properties=self._signed(online.topic(), body)
        )
        log.info(
            "link up to %s:%s (session present: %s)",
            self.settings.host,
            self.settings.port,
            flags.session_present,
        )
        if not flags.session_present:
            # The broker has no session for us (first contact, or it lost its state), so
            # whatever was in flight may be gone: send every unsettled entry again now.
            self.outbox.reset_sent()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [rc for rc in reason_codes[:2] if rc.is_failure]
        if failed:
            log.error("broker refused the terminal's subscriptions: %s", failed)
            return
        if len(reason_codes) > 2 and not reason_codes[2].is_failure:
            self.responses_granted.set()
        else:
            self.responses_granted.clear()
            log.warning("broker refused the responses topic: requests will get no answer")
        # Up only once commands and receipts can reach us, so nothing sent to us is missed.
        self.connected.set()
        self.outbox.changed.set()

    def _signed(self, topic: str, payload: bytes, props: Properties | None = None) -> Properties:
        assert self.identity is not None
        return self.identity.signed(topic, payload, props)

    def _security(self, detail: str) -> None:
        if self.on_security is not None:
            try:
                self.on_security(detail)
            except Exception:
                log.exception("security alarm could not be raised")

    def _on_connect_fail(self, client, userdata) -> None:
        # The broker closes the TLS handshake on an expired, revoked or foreign certificate;
        # paho only sees a failed connect, so the log names what a technician checks.
        self.connect_failures += 1
        if self.connect_failures in (1, 10) or self.connect_failures % 100 == 0:
            log.error(
                "cannot connect to %s:%s (%d tries): broker down, or this terminal's certificate "
                "expired or revoked (see `allhours enroll --renew`, `allhours provision list`)",
                self.settings.host,
                self.settings.port,
                self.connect_failures,
            )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set() and not self._stop.is_set():
            log.warning("link down: %s; retrying with backoff", reason_code)
        self.connected.clear()
        self.presence.disconnected(reason_code)
        if self._connection_used and not self._stop.is_set():
            self._connection_used = False
            # The next connection gets the next number, in its will and its online status.
            try:
                self._set_will()
            except Exception:
                log.exception("could not prepare the next connection's will")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.unheard.puback(mid, reason_code.value)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            queued = self._take_message(msg)
        except Exception as exc:
            # Nothing may escape into paho's network thread: it would end the link. A receipt
            # lost here is harmless, the outbox sends its entries again and gets a new one.
            self.failed += 1
            log.error("message on %s could not be handled: %s", msg.topic, type(exc).__name__)
            queued = False
        if not queued:
            client.ack(msg.mid, msg.qos)

    def _take_message(self, msg: mqtt.MQTTMessage) -> bool:
        """Handle one inbound message; True if a command was queued (acked once on disk)."""
        assert self.identity is not None
        try:
            signed = self.identity.verify(msg.topic, msg.payload, msg.properties)
        except signing.SignatureError as exc:
            self.forged += 1
            log.error("refused a message on %s: %s", msg.topic, exc)
            self._security(f"refused a downstream message that the backend did not sign: {exc}")
            return False
        try:
            message = m.decode_from(msg.topic, msg.payload)
        except m.MalformedMessage as exc:
            self.malformed += 1
            log.error("dropping malformed message on %s: %s", msg.topic, exc.reason)
            return False
        if message.terminal_id != self.terminal_id:
            self.forged += 1
            self._security(f"refused a signed {message.type} for terminal {message.terminal_id}")
            return False
        if isinstance(message, m.Settlement):
            self.outbox.settle(message.items)
        elif isinstance(message, m.RESPONSE_TYPES):
            if self.on_response is not None:
                try:
                    self.on_response(message)
                except Exception:
                    log.exception("response handler failed for %s", message.message_id)
        elif isinstance(message, m.COMMAND_TYPES):
            # Handled off the network thread; the broker ack waits until the ack is on disk.
            self._commands.put((message, signed, msg.mid, msg.qos))
            return True
        else:
            log.error("unexpected %s on %s", m.type_name(type(message)), msg.topic)
        return False

    # ------------------------------------------------------------------ worker threads

    def _command_loop(self) -> None:
        while True:
            item = self._commands.get()
            if item is None:
                return
            command, signed, mid, qos = item
            if self._dispatch(command, signed) or not self._stop.is_set():
                # After the last attempt too: the backend sends a pending command again until
                # it has our ack, so giving it back to the broker loses nothing, and holding
                # it would keep its slot in the session forever.
                self._client.ack(mid, qos)

    def _dispatch(self, command: m.Command, signed: signing.SignedDownstream) -> bool:
        """Dispatch one command, a bounded number of attempts; True once it is recorded."""
        seq = signed.seq
        for attempt in range(1, self.settings.command_attempts + 1):
            try:
                if self.dispatcher.dispatch(command, seq, signed) is None:
                    self._security(
                        f"refused {m.type_name(type(command))} {command.message_id}: sequence "
                        f"{seq} is not newer than the last command applied (replayed or reordered)"
                    )
                return True
            except Exception as exc:
                log.error(
                    "command %s could not be recorded (attempt %d): %s",
                    command.message_id,
                    attempt,
                    type(exc).__name__,
                )
            if self._stop.wait(0.2 * attempt):
                return False
        self.failed += 1
        log.error("command %s given up; the backend will send it again", command.message_id)
        return False

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self.outbox.changed.wait(timeout=self.unheard.wait_s(1.0))
            self.outbox.changed.clear()
            unheard = self.unheard.due()
            if unheard:
                log.info(
                    "%d outbox entries reached no backend at the broker; sending again",
                    len(unheard),
                )
                self.outbox.make_due(unheard)
            while self.connected.is_set() and not self._stop.is_set():
                entries = self.outbox.due(self.settings.window, self.settings.resend_after_s)
                if not entries:
                    break
                sent = []
                for entry in entries:
                    try:
                        payload = self.outbox.payload(entry)
                    except (OutboxError, OSError) as exc:
                        log.error("outbox entry %s unreadable: %s", entry.message_id, exc)
                        continue
                    info = self._client.publish(
                        entry.topic, payload, qos=1, properties=self._signed(entry.topic, payload)
                    )
                    if info.rc != mqtt.MQTT_ERR_SUCCESS:
                        break
                    self.unheard.sent(info.mid, entry.seq)
                    sent.append(entry.seq)
                self.outbox.mark_sent(sent)
                if len(sent) < len(entries):
                    break

    def _renewal_loop(self) -> None:
        while True:
            self.check_identity()
            if self._stop.wait(self.settings.renewal_check_s):
                return

    def check_identity(self) -> bool:
        """Run the renewal check now; True when certificate or trusted keys changed."""
        assert self.settings.renewal is not None
        try:
            keys = self.settings.renewal()
            if keys is None:
                return False
            assert self.identity is not None
            self.identity.trust(keys)
            self.use_renewed_identity()
            return True
        except Exception:
            log.exception("identity check failed")
            return False

    def _heartbeat_s(self) -> float:
        return self.settings.heartbeat_s or max(0.5, self.settings.keepalive / 3)

    def _every(self, interval: float, publish: Callable[[], None]) -> None:
        while not self._stop.wait(interval):
            publish()

    def publish_heartbeat(self) -> None:
        """The online status again, not retained and at QoS 0: only its arrival matters."""
        if not self.connected.is_set():
            return
        beat = self.presence.heartbeat()
        body = beat.encode()
        self._client.publish(beat.topic(), body, qos=0, properties=self._signed(beat.topic(), body))

    def publish_telemetry(self) -> None:
        """Publish one telemetry report now (not through the outbox: it is only a snapshot)."""
        if not (self.telemetry_source and self.connected.is_set()):
            return
        try:
            report = self.telemetry_source()
        except Exception:
            log.exception("telemetry source failed")
            return
        body = report.encode()
        self._client.publish(
            report.topic(), body, qos=0, properties=self._signed(report.topic(), body)
        )

    def request(self, message: m.Message, expiry_s: float) -> bool:
        """Publish a request now, outside the outbox; False when it cannot go out now.

        Requests are questions a citizen waits for; one that cannot be asked now is not
        worth asking later, so it is not kept. The MQTT 5 Message Expiry keeps a broker from
        delivering it to a backend after the asker has stopped waiting.
        """
        if not (self.connected.is_set() and self.responses_granted.is_set()):
            return False
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, int(expiry_s))
        body = message.encode()
        props = self._signed(message.topic(), body, props)
        info = self._client.publish(message.topic(), body, qos=1, properties=props)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def uptime_s(self) -> float:
        return (m.utcnow() - self.started_at).total_seconds()


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Poll `predicate` until it returns something truthy, or `timeout` passes; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
