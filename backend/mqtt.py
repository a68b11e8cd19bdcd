"""The backend's MQTT 5 link: shared subscriptions in, receipts and commands out, acks last."""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics
from provisioning.tls import ClientTls

from .commands import resend_pending
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
    batch_max: int = 200
    resend_every_s: float = 60.0
    reconnect_min_s: int = 1
    reconnect_max_s: int = 10
    # The worker's certificate, key and the site CA; there is no plain connection.
    tls: ClientTls | None = None
    # A message whose ingest raises is tried this often (pausing longer each time), then kept
    # as a dead letter so the stream moves on.
    max_attempts: int = 3
    retry_pause_s: float = 0.2


def subscription_filters(shared_group: str | None) -> list[str]:
    """The contract's upstream filters, shared under `shared_group` or plain when None."""
    return topics.backend_subscriptions(shared_group)


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
        # The periodic republish of unacknowledged commands runs on one worker of the cluster.
        self.resend_lease = ClusterLease(
            ingest.db, "command-resend", s.client_id, timedelta(seconds=3 * s.resend_every_s)
        )
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
        self._subscribed.clear()
        self._started = False
        try:
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
        props = None
        expires_at = getattr(message, "expires_at", None)
        if expires_at is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, int((expires_at - m.utcnow()).total_seconds()))
        assert self.signing is not None
        body = message.encode()
        props = self.signing.properties(message, body, props)
        # While disconnected paho keeps QoS 1 messages and sends them on reconnect.
        self.client.publish(message.topic(), body, qos=1, properties=props)

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
        # Retained status only on a new subscription; a resumed one has seen it already.
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe([(f, options) for f in subscription_filters(self.settings.shared_group)])

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
                    if self.resend_lease.hold() or reconnected:
                        resend_pending(self.ingest.db, self)
                except Exception:
                    log.exception("republishing pending commands failed")
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
