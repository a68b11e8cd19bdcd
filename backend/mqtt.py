"""The backend's MQTT 5 link: shared subscriptions in, receipts and commands out, acks last."""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics
from provisioning.tls import ClientTls

from .commands import CommandPublisher, mark_sent, resend_open
from .ingest import Ingest, IngestResult, failure_kind
from .ingest_lag import IngestLag
from .schedule import ClusterLease
from .wire_signing import WireSigning

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    # The broker takes the client id from the certificate's CN (backend.<worker>).
    client_id: str = "backend.1"
    # A group name: MQTT 5 shared subscriptions, so more workers can join without any change.
    # None: plain subscriptions. Mosquitto 2.0 does not restore shared subscriptions from
    # persistence, so after a broker restart it drops what arrives before the backend
    # subscribes again; terminals re-send it (no receipt), plain mode avoids even that delay.
    shared_group: str | None = topics.SHARED_GROUP
    session_expiry_s: int = 7 * 86_400
    keepalive_s: int = 30
    # CPU per message falls until about 200 (broker-free, SQLite: 172-201 us at 50, 135-143 at
    # 100, 121-126 at 200), but a batch arrives as it can: 47-67 on average under load.
    batch_max: int = 100
    resend_every_s: float = 60.0
    # A worker is one of few clients of its broker: after a broker restart it is back within
    # 2 s, since terminals that reconnected first send into the gap until it subscribes.
    reconnect_min_s: float = 0.25
    reconnect_max_s: float = 2.0
    # The worker's certificate, key and the site CA; there is no plain connection.
    tls: ClientTls | None = None
    # A message whose ingest raises is tried this often (pausing longer each time), then kept
    # as a dead letter so the stream moves on.
    max_attempts: int = 3
    retry_pause_s: float = 0.2


def subscription_filters(shared_group: str | None) -> list[str]:
    """The contract's upstream filters, shared under `shared_group` or plain when None."""
    return topics.backend_subscriptions(shared_group)


def subscriptions(shared_group: str | None) -> list[tuple[str, SubscribeOptions]]:
    """The filters with their options: only the status channel hands over retained messages.

    A terminal's retained status (and its will) says where it stands; the backend takes it on a
    new subscription only, as a resumed one has seen it already. Nothing else is published
    retained by the contract, yet the broker cannot refuse the retain flag per topic: a terminal
    (or its stolen certificate) may retain a message on any of its upstream topics, and Mosquitto
    would hand every one to each new backend subscription as if just sent.
    """
    out = []
    for channel, f in zip(topics.UPSTREAM, subscription_filters(shared_group), strict=True):
        retain = SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
        if channel != topics.STATUS:
            retain = SubscribeOptions.RETAIN_DO_NOT_SEND
        out.append((f, SubscribeOptions(qos=1, retainHandling=retain)))
    return out


@dataclass(frozen=True)
class _Received:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_at: float


class BackendMqtt:
    """Receives upstream messages into one ingest worker; implements CommandPublisher."""

    def __init__(
        self,
        ingest: Ingest,
        settings: MqttSettings | None = None,
        signing: WireSigning | None = None,
    ):
        self.ingest = ingest
        self.signing = signing
        self.settings = s = settings or MqttSettings()
        self._queue: queue.Queue[_Received] = queue.Queue()
        self.lag = IngestLag(self._oldest_queued)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._resend_now = threading.Event()
        self._generation = 0
        self._worker: threading.Thread | None = None
        self._started = False
        # PUBACKs of commands: the message id of each publish in flight (None: not a command),
        # PUBACKs that beat publish() back to its caller, and the commands the broker took,
        # recorded as sent by the ingest worker (the network thread never waits on the database).
        self._puback_lock = threading.Lock()
        self._in_flight: dict[int, str | None] = {}
        self._early_pubacks: dict[int, int] = {}
        self._sent: list[tuple[str, datetime]] = []
        # The periodic republish of unacknowledged commands runs on one worker of the cluster
        # (None: another link of this worker runs it, BrokerLinks).
        self.resend_lease: ClusterLease | None = ClusterLease(
            ingest.db, "command-resend", s.client_id, timedelta(seconds=3 * s.resend_every_s)
        )
        # Who republishes pending commands (BrokerLinks routes them to their terminals' brokers)
        # and who hears that a terminal spoke on this link.
        self.resender: CommandPublisher = self
        self.on_heard: Callable[[str, BackendMqtt], None] | None = None
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.reconnect_delay_set(s.reconnect_min_s, s.reconnect_max_s)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Connect (persistent session) and start the ingest worker; returns at once."""
        if self._started:
            return
        if self.settings.tls is None or self.signing is None:
            raise RuntimeError("the backend has no broker certificate or signing key: --ca-dir")
        self.client.tls_set_context(self.settings.tls.context())
        self._started = True
        self._stop.clear()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.session_expiry_s
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()
        self._worker = threading.Thread(target=self._work, name="backend-ingest", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, then disconnect; unacked messages stay with the broker."""
        if not self._started:
            return
        self._stop.set()
        if self._worker:
            self._worker.join(timeout)
            self._worker = None
        self.client.disconnect()
        self.client.loop_stop()
        self._record_sent()  # the PUBACKs that came in while the worker was finishing
        self._subscribed.clear()
        self._started = False
        try:
            if self.resend_lease is not None:
                self.resend_lease.release()
        except Exception:
            log.exception("giving up the command-resend lease failed; it expires by itself")

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once connected and subscribed."""
        return self._subscribed.wait(timeout)

    @property
    def ready(self) -> bool:
        return self._subscribed.is_set()

    def ingest_health(self) -> dict[str, object]:
        """Lag, queue depth and stall state of the ingest worker, for /healthz."""
        alive = self._worker is not None and self._worker.is_alive()
        return self.lag.report(self._queue.qsize(), worker_alive=alive or not self._started)

    def _oldest_queued(self) -> float | None:
        with self._queue.mutex:
            return self._queue.queue[0].received_at if self._queue.queue else None

    # ------------------------------------------------------------ publishing

    def publish(self, message: m.Message) -> None:
        """Publish a command or receipt at QoS 1; commands carry a Message Expiry Interval."""
        body, props = self.signed(message)
        self.send(message.topic(), body, props, _command_id(message))

    def signed(self, message: m.Message) -> tuple[bytes, Properties]:
        """The message's bytes and PUBLISH properties: signature, sequence, expiry."""
        props = None
        expires_at = getattr(message, "expires_at", None)
        if expires_at is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, int((expires_at - m.utcnow()).total_seconds()))
        assert self.signing is not None
        body = message.encode()
        return body, self.signing.properties(message, body, props)

    def send(
        self, topic: str, body: bytes, props: Properties, command_id: str | None = None
    ) -> None:
        """Publish signed bytes at QoS 1 on this link; a command's PUBACK marks it sent."""
        # While disconnected paho keeps QoS 1 messages and sends them on reconnect.
        info = self.client.publish(topic, body, qos=1, properties=props)
        # Not under paho's lock: on_publish runs holding it, and would wait for ours.
        with self._puback_lock:
            early = self._early_pubacks.pop(info.mid, None)
            if early is None:
                self._in_flight[info.mid] = command_id
        if early is not None:
            self._took(command_id, early)

    def _on_publish(self, _client, _userdata, mid, reason_code, _properties) -> None:
        with self._puback_lock:
            if mid not in self._in_flight:
                self._early_pubacks[mid] = reason_code.value
                return
            command_id = self._in_flight.pop(mid)
        self._took(command_id, reason_code.value)

    def _took(self, command_id: str | None, reason: int) -> None:
        if command_id is None:
            return
        # Success only: "no matching subscribers" (16) means the broker dropped it (a terminal
        # with no session there yet, or another region's broker); it stays queued.
        if reason != 0:
            log.debug("broker did not take command %s (reason %d)", command_id, reason)
            return
        with self._puback_lock:
            self._sent.append((command_id, m.utcnow()))

    def _record_sent(self) -> None:
        with self._puback_lock:
            sent, self._sent = self._sent, []
        if sent:
            try:
                mark_sent(self.ingest.db, sent)
            except Exception:
                log.exception("recording %d commands as sent failed", len(sent))
                with self._puback_lock:
                    self._sent[:0] = sent

    # ------------------------------------------------------------ paho callbacks

    def _on_connect(self, client, _userdata, flags, reason_code, _properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the backend: %s", reason_code)
            return
        # Nagle's algorithm would hold a message written just after an ack until the broker's
        # delayed ACK (40 ms on Linux): every request/response round trip paid it.
        with contextlib.suppress(OSError, AttributeError):
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._generation += 1
        log.info("connected to broker (session present: %s)", flags.session_present)
        # Subscribe on every connect: a shared subscription may not have survived a restart.
        client.subscribe(subscriptions(self.settings.shared_group))

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("subscription refused: %s", failed)
            return
        self._subscribed.set()
        self._resend_now.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self._subscribed.clear()
        if not self._stop.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason_code)

    def _on_message(self, client, _userdata, msg: mqtt.MQTTMessage) -> None:
        # Only enqueue: the network thread must never wait on the database. A message its
        # terminal did not sign never reaches ingest; the worker records it as a forgery.
        assert self.signing is not None
        if not self.signing.check(msg.topic, msg.payload, msg.properties):
            client.ack(msg.mid, msg.qos)
            return
        if self.on_heard is not None:
            with contextlib.suppress(topics.TopicError):
                self.on_heard(topics.parse(msg.topic).terminal_id, self)
        self._queue.put(
            _Received(msg.topic, msg.payload, msg.mid, msg.qos, self._generation, time.monotonic())
        )

    # ------------------------------------------------------------ ingest worker

    def _take(self) -> list[_Received]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        # Whatever arrived meanwhile joins the batch, but nothing waits for more: a lone
        # request was held 50 ms for company. Under load, messages queue up
        # while a batch commits, so batches still fill.
        while len(batch) < self.settings.batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _work(self) -> None:
        last_resend = time.monotonic()
        while not self._stop.is_set():
            if self.signing is not None and not self.signing.forgeries.empty():
                try:
                    self.signing.record_forgeries()
                except Exception:
                    log.exception("recording refused messages failed")
            # After this worker (re)subscribes it republishes at once; the periodic republish
            # is a cluster job, run by the worker holding its lease.
            reconnected = self._resend_now.is_set()
            if reconnected or time.monotonic() - last_resend > self.settings.resend_every_s:
                self._resend_now.clear()
                last_resend = time.monotonic()
                try:
                    lease = self.resend_lease
                    if (lease is not None and lease.hold()) or reconnected:
                        resend_open(self.ingest.db, self.resender)
                except Exception:
                    log.exception("republishing open commands failed")
            self._record_sent()
            batch = self._take()
            if batch:
                self.lag.taking(batch[0].received_at)
                self._ingest(batch)
                self.lag.done()

    def _ingest(self, batch: list[_Received]) -> None:
        try:
            result = self.ingest.handle_batch([(r.topic, r.payload) for r in batch])
        except Exception as exc:
            # One message must not hold back the others: apply them one by one.
            log.warning(
                "ingest of a %d-message batch failed (%s); applying its messages singly",
                len(batch),
                failure_kind(exc),
            )
            for r in batch:
                if not self._ingest_alone(r):
                    return  # stopping: the rest stays unacked and the broker delivers it again
            return
        self._settle(batch, result)

    def _ingest_alone(self, r: _Received) -> bool:
        """Apply one message, retried a bounded number of times, then dead-lettered."""
        attempts = 0
        while True:
            attempts += 1
            try:
                result = self.ingest.handle_batch([(r.topic, r.payload)])
                break
            except Exception as exc:
                reason = failure_kind(exc)
            log.warning("message on %s failed (attempt %d): %s", r.topic[:200], attempts, reason)
            if attempts >= self.settings.max_attempts:
                try:
                    result = self.ingest.dead_letter(r.topic, r.payload, reason, attempts)
                    break
                except Exception as exc:
                    # The database itself fails, not this message: keep trying it, ack nothing.
                    log.error("cannot keep a dead letter (%s); ingest waits", failure_kind(exc))
            self.lag.retrying(True)
            if self._stop.wait(min(self.settings.retry_pause_s * attempts, 5.0)):
                return False
        self.lag.retrying(False)
        self._settle([r], result)
        return True

    def _settle(self, batch: list[_Received], result: IngestResult) -> None:
        for receipt in result.receipt_messages():
            self.publish(receipt)
        for r in batch:
            # A message from before a reconnect has been sent again; that copy gets the ack.
            if r.qos > 0 and r.generation == self._generation:
                self.client.ack(r.mid, r.qos)


class BrokerLinks:
    """One worker on several brokers (one per region): ingest from each, commands routed.

    A terminal belongs to the broker its enrollment bundle names; the worker learns which from
    where the terminal's messages arrive (its retained status arrives from each broker as soon
    as the worker subscribes). A command for a terminal not heard from yet is signed once and
    offered on every broker: only the terminal's own broker holds its session, the others have
    no subscriber for its topics and drop it. Receipts go back on the link a message came from.
    """

    def __init__(self, links: list[BackendMqtt]):
        if not links:
            raise ValueError("at least one broker")
        self.links = links
        self._home: dict[str, BackendMqtt] = {}
        self._lock = threading.Lock()
        for n, link in enumerate(links):
            link.on_heard = self._heard
            link.resender = self
            if n:  # one periodic republish per worker, routed from here
                link.resend_lease = None

    @property
    def signing(self) -> WireSigning | None:
        return self.links[0].signing

    def _heard(self, terminal_id: str, link: BackendMqtt) -> None:
        with self._lock:
            self._home[terminal_id] = link

    def home_of(self, terminal_id: str) -> BackendMqtt | None:
        """The link a terminal was last heard on, if any."""
        with self._lock:
            return self._home.get(terminal_id)

    def start(self) -> None:
        for link in self.links:
            link.start()

    def stop(self, timeout: float = 10.0) -> None:
        for link in self.links:
            link.stop(timeout)

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once every broker has connected and subscribed."""
        deadline = time.monotonic() + timeout
        return all(link.wait_ready(max(0.0, deadline - time.monotonic())) for link in self.links)

    @property
    def ready(self) -> bool:
        return all(link.ready for link in self.links)

    def publish(self, message: m.Message) -> None:
        """A command (or receipt) to its terminal's broker; every broker while that is unknown."""
        home = self.home_of(message.terminal_id)
        if home is not None or len(self.links) == 1:
            (home or self.links[0]).publish(message)
            return
        body, props = self.links[0].signed(message)  # one sequence number, however many brokers
        for link in self.links:
            link.send(message.topic(), body, props, _command_id(message))

    def ingest_health(self) -> dict[str, object]:
        """The worst lag and the whole queue over the brokers, and each broker's own report."""
        reports = [link.ingest_health() for link in self.links]
        if len(reports) == 1:
            return reports[0]
        merged: dict[str, object] = {
            "lag_s": max(float(r["lag_s"]) for r in reports),  # type: ignore[arg-type]
            "queued": sum(int(r["queued"]) for r in reports),  # type: ignore[call-overload]
            "retrying": any(r["retrying"] for r in reports),
            "worker_alive": all(r["worker_alive"] for r in reports),
            "stalled": any(r["stalled"] for r in reports),
            "last_batch_s_ago": min(
                (r["last_batch_s_ago"] for r in reports if r["last_batch_s_ago"] is not None),
                default=None,
            ),
        }
        merged["brokers"] = {
            f"{link.settings.host}:{link.settings.port}": report
            for link, report in zip(self.links, reports, strict=True)
        }
        return merged


def _command_id(message: m.Message) -> str | None:
    return message.message_id if isinstance(message, m.Command) else None
