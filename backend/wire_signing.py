"""The backend's end-to-end signatures: downstream signed, upstream verified (ADR 0007).

Commands carry a per-terminal sequence number from the database, so it increases strictly
across restarts and across workers; receipts and responses carry 0 (a terminal settles or
correlates them by id, and their order does not matter). An upstream message whose signature
does not hold for any current certificate of its terminal is refused before ingest, and
becomes a security alarm.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import update

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing, topics
from provisioning.tls import ClientTls

from .db import Database, insert_missing
from .models import DownstreamSequence, RejectedMessage, Terminal, utcnow
from .security_alarms import raise_security_alarm

log = logging.getLogger(__name__)

PublicKeys = Callable[[str], list]
# When a signature fails, the terminal's keys are looked up again (it may have just renewed its
# certificate), at most this many times a minute, so a flood of forgeries costs few lookups.
REFRESHES_PER_MINUTE = 10


@dataclass(frozen=True)
class WorkerCredentials:
    """What a backend worker proves itself with on the wire, and checks terminals against."""

    tls: ClientTls
    # The signer to use now: after a key rotation is promoted, the next call returns the new
    # key's, with no restart (provisioning.authority.SiteAuthority.rotate_signing_key).
    signer: Callable[[], signing.BackendSigner]
    terminal_keys: PublicKeys
    # The public keys terminals must trust now (current, next, previous): an update command
    # carries them to the terminal's root updater (terminal/update_trust.py).
    trusted_keys: Callable[[], tuple[str, ...]]


@dataclass(frozen=True)
class Forgery:
    topic: str
    terminal_id: str | None
    reason: str
    size: int


class WireSigning:
    """Signs what the backend publishes and checks what terminals publish."""

    def __init__(
        self,
        db: Database,
        signer: Callable[[], signing.BackendSigner],
        public_keys: PublicKeys,
    ):
        self.db = db
        self.signer = signer
        self.public_keys = public_keys
        self._keys: dict[str, list] = {}
        self._refreshes: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.forgeries: queue.Queue[Forgery] = queue.Queue()
        self.refused = 0

    # ------------------------------------------------------------ downstream

    def properties(
        self, message: m.Message, payload: bytes, props: Properties | None
    ) -> Properties:
        """PUBLISH properties with `seq` and `sig` for this message on its topic."""
        seq = self._next_seq(message.terminal_id) if isinstance(message, m.COMMAND_TYPES) else 0
        props = props or Properties(PacketTypes.PUBLISH)
        props.UserProperty = [
            (signing.SEQ, str(seq)),
            (signing.SIG, self.signer().sign(message.topic(), seq, payload)),
        ]
        return props

    def _next_seq(self, terminal_id: str) -> int:
        with self.db.transaction() as session:
            # Two workers may command a new terminal at once: the row is made without a race.
            insert_missing(
                session, DownstreamSequence, [{"terminal_id": terminal_id, "last_seq": 0}]
            )
            return int(
                session.execute(
                    update(DownstreamSequence)
                    .where(DownstreamSequence.terminal_id == terminal_id)
                    .values(last_seq=DownstreamSequence.last_seq + 1)
                    .returning(DownstreamSequence.last_seq)
                ).scalar_one()
            )

    # ------------------------------------------------------------ upstream

    def check(self, topic: str, payload: bytes, props: object) -> bool:
        """True if the message is signed by its terminal; else queued as a forgery."""
        try:
            terminal_id: str | None = topics.parse(topic).terminal_id
        except topics.TopicError:
            terminal_id = None
        sig = signing.user_properties(props).get(signing.SIG)
        try:
            if terminal_id is None:
                raise signing.SignatureError("not a terminal topic")
            self._verify(terminal_id, topic, payload, sig)
            return True
        except signing.SignatureError as exc:
            self.refused += 1
            self.forgeries.put(Forgery(topic, terminal_id, str(exc), len(payload)))
            return False

    def _verify(self, terminal_id: str, topic: str, payload: bytes, sig: str | None) -> None:
        keys = self._cached(terminal_id)
        try:
            signing.verify_upstream(keys, topic, payload, sig)
        except signing.SignatureError:
            if not self._may_refresh(terminal_id):
                raise
            signing.verify_upstream(self._cached(terminal_id, refresh=True), topic, payload, sig)

    def _may_refresh(self, terminal_id: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._refreshes.get(terminal_id, []) if now - t < 60]
            allowed = len(recent) < REFRESHES_PER_MINUTE
            self._refreshes[terminal_id] = [*recent, now] if allowed else recent
        return allowed

    def _cached(self, terminal_id: str, refresh: bool = False) -> list:
        with self._lock:
            keys = self._keys.get(terminal_id)
        if keys is None or refresh:
            keys = self.public_keys(terminal_id)
            with self._lock:
                self._keys[terminal_id] = keys
        return keys

    def record_forgeries(self) -> int:
        """Write queued forgeries as rejected messages and security alarms; returns how many."""
        batch: list[Forgery] = []
        while True:
            try:
                batch.append(self.forgeries.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return 0
        now = utcnow()
        by_terminal: dict[str, list[Forgery]] = {}
        with self.db.transaction() as session:
            for f in batch:
                session.add(
                    RejectedMessage(
                        topic=f.topic[:255],
                        terminal_id=f.terminal_id,
                        message_id=None,
                        reason=f"signature: {f.reason}"[:300],
                        size=f.size,
                        received_at=now,
                    )
                )
                log.error("security: refused %s: %s", f.topic, f.reason)
                if f.terminal_id and session.get(Terminal, f.terminal_id) is not None:
                    by_terminal.setdefault(f.terminal_id, []).append(f)
            # One alarm per terminal per drain, however many forgeries arrived together.
            for terminal_id, found in by_terminal.items():
                raise_security_alarm(
                    session,
                    terminal_id,
                    f"SEC-{now:%Y%m%d%H%M%S%f}",
                    f"refused {len(found)} message(s) not signed by the terminal, "
                    f"first on {found[0].topic}: {found[0].reason}",
                    now,
                )
        return len(batch)
