"""The site authority: the CA, the registry of identities, tokens and certificates.

It lives in one owner-only directory on the backend host:

    ca.key  ca.pem  registry.sqlite  brokers/   (one file per broker that reads our ACL and CRL)

Every change that alters who may connect (an enrollment, a revocation) rewrites the ACL and the
CRL of every registered broker and asks it to reload, so a revoked terminal is refused at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from cloud_bridge.contract import application_no
from cloud_bridge.contract.topics import TopicError, check_terminal_id

from . import pki
from .broker_access import CONTROL_IDENTITY, desired_roles, dynsec_config_from
from .broker_control import BrokerChanges, BrokerControl, BrokerControlError
from .tls import ClientTls, write_private
from .tokens import EnrollmentToken

log = logging.getLogger(__name__)

TERMINAL, BACKEND = "terminal", "backend"
ROLES = (TERMINAL, BACKEND)
CA_DAYS = 10 * 365
CERT_DAYS = 365
SERVER_DAYS = 2 * 365
TOKEN_TTL = timedelta(hours=24)
SYNC_ATTEMPTS, SYNC_PAUSE_S = 2, 0.5  # a broker's control session (see `_sync`)
# A terminal's certificate renewed from stays valid this long beside its successor, then goes
# on the CRL (`_retire_superseded`): time enough for a terminal to take up the new one.
SUPERSEDED_AFTER = timedelta(days=7)
# Backend identities are `backend.<worker>`: a dot can never stand in a terminal id, so no
# terminal can be enrolled under a backend's name.
BACKEND_PREFIX = "backend."
# A broker's name in the registry (a region or site group); its address is in the backend's
# settings (`brokers`), so moving a broker changes one line there and no terminal's record.
BROKER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    cn TEXT PRIMARY KEY, role TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT,
    broker TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, used_at TEXT, revoked_at TEXT, created_by TEXT NOT NULL,
    broker TEXT
);
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY, cn TEXT NOT NULL, not_after TEXT NOT NULL, issued_at TEXT NOT NULL,
    revoked_at TEXT, pem TEXT
);
CREATE TABLE IF NOT EXISTS connections_to_end (
    id INTEGER PRIMARY KEY AUTOINCREMENT, cn TEXT NOT NULL, broker TEXT NOT NULL
);
"""


class EnrollmentRefused(Exception):
    """An enrollment, renewal or token request that the site refuses; `code` names the cause."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TokenInfo:
    """A token as an operator sees it: never the secret."""

    terminal_id: str
    created_at: datetime
    expires_at: datetime
    state: str  # pending, used, expired, revoked
    created_by: str
    broker: str | None = None  # the broker the terminal is assigned to; None: the default


@dataclass(frozen=True)
class IdentityInfo:
    """One registered identity with its newest certificate's expiry."""

    cn: str
    role: str
    state: str  # active, revoked, awaiting enrollment
    cert_expires: datetime | None
    broker: str | None = None  # a terminal's broker (region or site group); None: the default


def _iso(dt: datetime) -> str:
    return pki.utc(dt).isoformat()


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_ed25519() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _ed25519_public_hex(raw: bytes) -> str:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(raw).public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


class SiteAuthority:
    """The CA and registry in one directory; safe to open from several processes at once."""

    def __init__(self, directory: Path, *, clock: Callable[[], datetime] = _utcnow):
        self.dir = Path(directory)
        self.clock = clock
        key_path, cert_path = self.dir / "ca.key", self.dir / "ca.pem"
        if not key_path.exists():
            raise EnrollmentRefused("no_ca", f"{self.dir} holds no site CA: create it first")
        self._ca_key = pki.load_key(key_path.read_bytes())
        self.ca_cert = pki.load_cert(cert_path.read_bytes())
        self.ca_pem = pki.cert_pem(self.ca_cert)
        self.fingerprint = pki.fingerprint(self.ca_cert)
        with self._db() as db:
            db.executescript(_SCHEMA)
            for table in ("identities", "tokens"):  # a registry made before broker assignment
                columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                if "broker" not in columns:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN broker TEXT")

    @classmethod
    def create(
        cls,
        directory: Path,
        name: str = "allhours site CA",
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> SiteAuthority:
        """Make a new CA in `directory` (refused if one is there), then open it."""
        d = Path(directory)
        if (d / "ca.key").exists():
            raise EnrollmentRefused("ca_exists", f"{d} already holds a site CA")
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        key = pki.new_key()
        cert = pki.self_signed_ca(key, name, clock(), CA_DAYS)
        write_private(d / "ca.key", pki.key_pem(key))
        write_private(d / "ca.pem", pki.cert_pem(cert), mode=0o644)
        return cls(d, clock=clock)

    @classmethod
    def open_or_create(
        cls, directory: Path, *, clock: Callable[[], datetime] = _utcnow
    ) -> SiteAuthority:
        if (Path(directory) / "ca.key").exists():
            return cls(directory, clock=clock)
        return cls.create(directory, clock=clock)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.dir / "registry.sqlite", timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            yield db
            if db.in_transaction:
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    # ------------------------------------------------------------------ tokens

    def issue_token(
        self,
        terminal_id: str,
        *,
        ttl: timedelta = TOKEN_TTL,
        created_by: str = "operator",
        broker: str | None = None,
    ) -> EnrollmentToken:
        """A one-time token for `terminal_id`; earlier unused tokens for it stop working.

        `broker` names the broker (region or site group) the terminal is assigned to: its
        enrollment bundle carries that broker's address. None: the backend's default broker.
        """
        if broker is not None and not BROKER_NAME.fullmatch(broker):
            raise EnrollmentRefused(
                "bad_broker",
                f"{broker[:40]!r} is not a broker name (1-32 of a-z, 0-9 and '-', as in the"
                " backend settings' brokers table)",
            )
        try:
            check_terminal_id(terminal_id)
        except TopicError:
            raise EnrollmentRefused(
                "bad_terminal_id",
                f"{terminal_id!r} is not a terminal id (letters, digits, - and _, up to 64)",
            ) from None
        if ttl <= timedelta(0) or ttl > timedelta(days=30):
            raise EnrollmentRefused("bad_ttl", "a token lives between a minute and 30 days")
        now = self.clock()
        token = EnrollmentToken.new(terminal_id, self.fingerprint)
        with self._db() as db:
            row = db.execute("SELECT revoked_at FROM identities WHERE cn=?", (terminal_id,))
            found = row.fetchone()
            if found and found[0]:
                raise EnrollmentRefused(
                    "terminal_revoked",
                    f"{terminal_id} was revoked; enroll the kiosk under a new terminal id",
                )
            known = db.execute(
                "SELECT cn FROM identities WHERE role=? UNION SELECT terminal_id FROM tokens",
                (TERMINAL,),
            ).fetchall()
            clash = next(
                (cn for (cn,) in known if application_no.same_numbers(cn, terminal_id)), None
            )
            if clash is not None:
                raise EnrollmentRefused(
                    "terminal_id_clash",
                    f"{terminal_id} would make the same application numbers as {clash}"
                    f" ({application_no.make(clash, now.date(), 1)}): choose another terminal id",
                )
            db.execute(
                "UPDATE tokens SET revoked_at=? WHERE terminal_id=? AND used_at IS NULL"
                " AND revoked_at IS NULL",
                (_iso(now), terminal_id),
            )
            db.execute(
                "INSERT INTO tokens VALUES (?,?,?,?,NULL,NULL,?,?)",
                (token.digest, terminal_id, _iso(now), _iso(now + ttl), created_by, broker),
            )
        log.info(
            "enrollment token issued for %s (broker %s) by %s, valid %s",
            terminal_id,
            broker or "default",
            created_by,
            ttl,
        )
        return token

    def tokens(self) -> list[TokenInfo]:
        now = self.clock()
        with self._db() as db:
            rows = db.execute(
                "SELECT terminal_id, created_at, expires_at, used_at, revoked_at, created_by,"
                " broker FROM tokens ORDER BY created_at"
            ).fetchall()
        out = []
        for tid, created, expires, used, revoked, by, broker in rows:
            exp = _dt(expires)
            assert exp is not None
            state = (
                "used" if used else "revoked" if revoked else "expired" if exp <= now else "pending"
            )
            out.append(TokenInfo(tid, _dt(created) or now, exp, state, by, broker))
        return out

    def revoke_tokens(self, terminal_id: str) -> int:
        """Make every unused token of `terminal_id` useless; returns how many."""
        with self._db() as db:
            cur = db.execute(
                "UPDATE tokens SET revoked_at=? WHERE terminal_id=? AND used_at IS NULL"
                " AND revoked_at IS NULL",
                (_iso(self.clock()), terminal_id),
            )
            return cur.rowcount

    # ------------------------------------------------------------------ certificates

    def enroll(
        self,
        token_text: str,
        csr_pem: bytes,
        prepare: Callable[[str, str | None], dict[str, Any]] = lambda _tid, _broker: {},
    ) -> tuple[x509.Certificate, dict[str, Any]]:
        """Spend the token and certify the CSR's key, in one transaction or not at all.

        The terminal is recorded as assigned to the token's broker. `prepare(terminal_id,
        broker)` runs once the token has been checked and before anything is committed; it
        makes what the bundle carries, and if it raises, nothing is spent.
        """
        token = EnrollmentToken.parse(token_text)
        csr = self._checked_csr(csr_pem, token.terminal_id)
        now = self.clock()
        with self._db() as db:
            row = db.execute(
                "SELECT terminal_id, expires_at, used_at, revoked_at, broker FROM tokens"
                " WHERE digest=?",
                (token.digest,),
            ).fetchone()
            if row is None:
                raise EnrollmentRefused(
                    "token_unknown", "this token is not known here: ask the operator for a new one"
                )
            tid, expires, used, revoked, broker = row
            if used:
                raise EnrollmentRefused(
                    "token_used", f"this token was already used on {used[:16]}: tokens work once"
                )
            if revoked:
                raise EnrollmentRefused("token_revoked", "this token was withdrawn by an operator")
            if (_dt(expires) or now) <= now:
                raise EnrollmentRefused(
                    "token_expired", f"this token expired at {expires[:16]} UTC: ask for a new one"
                )
            ident = db.execute("SELECT revoked_at FROM identities WHERE cn=?", (tid,)).fetchone()
            if ident and ident[0]:
                raise EnrollmentRefused("terminal_revoked", f"{tid} was revoked")
            db.execute("UPDATE tokens SET used_at=? WHERE digest=?", (_iso(now), token.digest))
            if not ident:
                db.execute(
                    "INSERT INTO identities VALUES (?,?,?,NULL,?)",
                    (tid, TERMINAL, _iso(now), broker),
                )
            else:
                # A re-enrollment (replaced hardware, a move to the new token's broker) ends
                # every earlier certificate: the old device, or whoever copied its key, must not
                # go on connecting, signing as the terminal and renewing itself. The caller's
                # `publish()` puts them on the CRL and ends the connection the terminal holds at
                # each broker: the CRL is checked only at a connect, and on another broker no
                # new device ever takes the old one's session over.
                db.execute("UPDATE identities SET broker=? WHERE cn=?", (broker, tid))
                db.execute(
                    "UPDATE certificates SET revoked_at=? WHERE cn=? AND revoked_at IS NULL",
                    (_iso(now), tid),
                )
                db.executemany(
                    "INSERT INTO connections_to_end (cn, broker) VALUES (?,?)",
                    [(tid, name) for name in self._broker_names()],
                )
            cert = self._issue(db, csr.public_key(), tid, now)
            prepared = prepare(tid, broker)
        log.info(
            "terminal %s enrolled on broker %s (certificate %x)",
            tid,
            broker or "default",
            cert.serial_number,
        )
        return cert, prepared

    def renew(self, peer: x509.Certificate, csr_pem: bytes) -> x509.Certificate:
        """A new certificate for the identity that `peer` (a verified client cert) proves."""
        cn = pki.common_name(peer.subject)
        csr = self._checked_csr(csr_pem, cn)
        now = self.clock()
        with self._db() as db:
            self._retire_superseded(db, now)
            cert_row = db.execute(
                "SELECT revoked_at FROM certificates WHERE serial=?", (f"{peer.serial_number:x}",)
            ).fetchone()
            ident = db.execute("SELECT revoked_at FROM identities WHERE cn=?", (cn,)).fetchone()
            if not ident or ident[0] or not cert_row or cert_row[0]:
                raise EnrollmentRefused("revoked", f"{cn}: this certificate is revoked")
            cert = self._issue(db, csr.public_key(), cn, now)
        log.info("%s renewed its certificate (%x)", cn, cert.serial_number)
        return cert

    def issue_identity(self, cn: str, role: str, directory: Path) -> ClientTls:
        """Make a key here and certify it: for the backend's own workers (and test clients)."""
        if role not in ROLES:
            raise EnrollmentRefused("bad_role", f"role must be one of {ROLES}")
        if (role == BACKEND) != cn.startswith(BACKEND_PREFIX):
            raise EnrollmentRefused(
                "bad_name", f"backend identities, and only they, are named {BACKEND_PREFIX}<name>"
            )
        key = pki.new_key()
        now = self.clock()
        with self._db() as db:
            ident = db.execute("SELECT role, revoked_at FROM identities WHERE cn=?", (cn,))
            found = ident.fetchone()
            if found and (found[0] != role or found[1]):
                raise EnrollmentRefused("revoked", f"{cn} is revoked or has another role")
            if not found:
                db.execute("INSERT INTO identities VALUES (?,?,?,NULL,NULL)", (cn, role, _iso(now)))
            cert = self._issue(db, key.public_key(), cn, now)
        return self._write_identity(directory, key, cert)

    def issue_server(self, cn: str, directory: Path, names: tuple[str, ...]) -> ClientTls:
        """A broker's or enrollment endpoint's server key and certificate for `names`."""
        key = pki.new_key()
        cert = pki.issue(
            self._ca_key,
            self.ca_cert,
            key.public_key(),
            cn,
            now=self.clock(),
            days=SERVER_DAYS,
            server_names=names,
        )
        return self._write_identity(directory, key, cert)

    def _write_identity(self, directory: Path, key, cert: x509.Certificate) -> ClientTls:
        files = ClientTls.in_dir(directory)
        write_private(files.key_file, pki.key_pem(key))
        write_private(files.cert_file, pki.cert_pem(cert), mode=0o644)
        write_private(files.ca_file, self.ca_pem, mode=0o644)
        return files

    def _checked_csr(self, csr_pem: bytes, expected_cn: str) -> x509.CertificateSigningRequest:
        try:
            csr = pki.load_csr(csr_pem)
            cn = pki.common_name(csr.subject)
        except pki.PkiError as exc:
            raise EnrollmentRefused("bad_csr", str(exc)) from None
        if cn != expected_cn:
            raise EnrollmentRefused(
                "cn_mismatch",
                f"the request is for {cn!r} but the token or certificate is for {expected_cn!r}",
            )
        return csr

    def _issue(self, db: sqlite3.Connection, public_key, cn: str, now: datetime):
        cert = pki.issue(self._ca_key, self.ca_cert, public_key, cn, now=now, days=CERT_DAYS)
        db.execute(
            "INSERT INTO certificates VALUES (?,?,?,?,NULL,?)",
            (
                f"{cert.serial_number:x}",
                cn,
                _iso(cert.not_valid_after_utc),
                _iso(now),
                pki.cert_pem(cert).decode(),
            ),
        )
        return cert

    # ------------------------------------------------------------------ identities

    def revoke(self, cn: str) -> tuple[int, list[str]]:
        """Revoke an identity: its certificates go on the CRL and its tokens stop working.

        Returns how many certificates were revoked, and the brokers not brought in line now."""
        now = _iso(self.clock())
        with self._db() as db:
            cur = db.execute(
                "UPDATE identities SET revoked_at=? WHERE cn=? AND revoked_at IS NULL", (now, cn)
            )
            if cur.rowcount == 0:
                known = db.execute("SELECT 1 FROM identities WHERE cn=?", (cn,)).fetchone()
                if not known:
                    raise EnrollmentRefused("unknown", f"{cn} is not enrolled here")
            certs = db.execute(
                "UPDATE certificates SET revoked_at=? WHERE cn=? AND revoked_at IS NULL", (now, cn)
            ).rowcount
            db.execute(
                "UPDATE tokens SET revoked_at=? WHERE terminal_id=? AND used_at IS NULL"
                " AND revoked_at IS NULL",
                (now, cn),
            )
        log.warning("%s revoked: %d certificate(s) on the CRL", cn, certs)
        return certs, self.publish()

    def identities(self) -> list[IdentityInfo]:
        with self._db() as db:
            rows = db.execute(
                "SELECT i.cn, i.role, i.revoked_at, MAX(c.not_after), i.broker FROM identities i"
                " LEFT JOIN certificates c ON c.cn = i.cn AND c.revoked_at IS NULL"
                " GROUP BY i.cn ORDER BY i.role, i.cn"
            ).fetchall()
        return [
            IdentityInfo(
                cn,
                role,
                "revoked" if revoked else "active" if not_after else "awaiting enrollment",
                _dt(not_after),
                broker,
            )
            for cn, role, revoked, not_after, broker in rows
        ]

    def broker_of(self, terminal_id: str) -> str | None:
        """The broker a terminal was assigned to at its enrollment; None: the default one."""
        with self._db() as db:
            row = db.execute("SELECT broker FROM identities WHERE cn=?", (terminal_id,))
            found = row.fetchone()
        return found[0] if found else None

    def active(self, role: str) -> list[str]:
        return [i.cn for i in self.identities() if i.role == role and i.state == "active"]

    def is_active_certificate(self, cert: x509.Certificate) -> bool:
        with self._db() as db:
            row = db.execute(
                "SELECT c.revoked_at, i.revoked_at FROM certificates c JOIN identities i"
                " ON i.cn = c.cn WHERE c.serial=?",
                (f"{cert.serial_number:x}",),
            ).fetchone()
        return bool(row) and not row[0] and not row[1]

    def crl_pem(self) -> bytes:
        """The CRL signed now, with the terminals' certificates superseded by then."""
        with self._db() as db:
            self._retire_superseded(db, self.clock())
            rows = db.execute(
                "SELECT serial, revoked_at FROM certificates WHERE revoked_at IS NOT NULL"
            ).fetchall()
        revoked = [(int(serial, 16), _dt(at) or self.clock()) for serial, at in rows]
        return pki.crl(self._ca_key, self.ca_cert, revoked, now=self.clock())

    def _retire_superseded(self, db: sqlite3.Connection, now: datetime) -> None:
        """Revoke each terminal certificate that a newer one of the same terminal has replaced
        for `SUPERSEDED_AFTER`.

        A renewal leaves the certificate it renewed from valid until it expires, up to a year:
        a copy of that key (taken before the renewal) would go on connecting, signing and
        renewing itself. Run at each signing of the CRL (daily, `allhours broker`) and at each
        renewal."""
        rows = db.execute(
            "SELECT c.serial, c.cn, c.issued_at, c.revoked_at FROM certificates c"
            " JOIN identities i ON i.cn = c.cn WHERE i.role=? AND i.revoked_at IS NULL",
            (TERMINAL,),
        ).fetchall()
        newest: dict[str, datetime] = {}
        for _serial, cn, issued, revoked in rows:
            at = _dt(issued)
            assert at is not None
            if revoked is None and (cn not in newest or at > newest[cn]):
                newest[cn] = at
        retired = [
            serial
            for serial, cn, issued, revoked in rows
            if revoked is None
            and (_dt(issued) or now) < newest[cn]
            and newest[cn] <= now - SUPERSEDED_AFTER
        ]
        for serial in retired:
            db.execute("UPDATE certificates SET revoked_at=? WHERE serial=?", (_iso(now), serial))
        if retired:
            log.info("%d terminal certificate(s) superseded for %s put on the CRL",
                     len(retired), SUPERSEDED_AFTER)  # fmt: skip

    def access(self) -> dict[str, list[dict]]:
        """Role name -> ACL entries for every identity the brokers must admit now."""
        self.control_tls()
        return desired_roles(self.active(TERMINAL), self.active(BACKEND))

    def control_tls(self) -> ClientTls:
        """The `backend.control` identity that edits the brokers' access, made on first use."""
        files = ClientTls.in_dir(self.dir / "control")
        if not files.cert_file.exists():
            self.issue_identity(CONTROL_IDENTITY, BACKEND, files.cert_file.parent)
        return files

    # ------------------------------------------------------------------ the backend's signing key
    # signing/current.key signs; signing/next.key is announced before it signs (terminals learn
    # it at enrollment and renewal); signing/previous.key stays trusted for an overlap.

    def _signing_path(self, name: str) -> Path:
        return self.dir / "signing" / f"{name}.key"

    def backend_signing_key(self) -> bytes:
        """The raw Ed25519 private key the backend signs with now; made on first use."""
        path = self._signing_path("current")
        if not path.exists():
            write_private(path, _new_ed25519())
        return path.read_bytes()

    def signing_key_stamp(self) -> tuple[int, int]:
        """Changes whenever the current signing key is replaced (inode, modification time)."""
        st = self._signing_path("current").stat()
        return st.st_ino, st.st_mtime_ns

    def backend_signing_keys(self) -> tuple[str, ...]:
        """Public keys (hex) terminals must trust: current, then next and previous if any."""
        self.backend_signing_key()
        out = []
        for name in ("current", "next", "previous"):
            path = self._signing_path(name)
            if path.exists():
                out.append(_ed25519_public_hex(path.read_bytes()))
        return tuple(out)

    def rotate_signing_key(self, step: str) -> tuple[str, ...]:
        """`announce` a next key, `promote` it to current (the old one stays as previous), or
        `retire` the previous one. Returns the keys terminals must now trust."""
        current, nxt, previous = (self._signing_path(n) for n in ("current", "next", "previous"))
        self.backend_signing_key()
        if step == "announce":
            if nxt.exists():
                raise EnrollmentRefused("rotation", "a next key is already announced")
            write_private(nxt, _new_ed25519())
        elif step == "promote":
            if not nxt.exists():
                raise EnrollmentRefused("rotation", "announce a next key first")
            # Copy, then swap in the next key atomically: there is always a current key.
            write_private(previous, current.read_bytes())
            nxt.replace(current)
        elif step == "retire":
            previous.unlink(missing_ok=True)
        else:
            raise EnrollmentRefused("rotation", "steps are announce, promote and retire")
        log.warning("backend signing key rotation: %s", step)
        return self.backend_signing_keys()

    def terminal_public_keys(self, cn: str) -> list:
        """Public keys of `cn`'s certificates that are not revoked (old and new over a renewal)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT c.pem FROM certificates c JOIN identities i ON i.cn = c.cn"
                " WHERE c.cn=? AND c.revoked_at IS NULL AND i.revoked_at IS NULL"
                " AND c.pem IS NOT NULL",
                (cn,),
            ).fetchall()
        now = self.clock()
        certs = [pki.load_cert(pem.encode()) for (pem,) in rows]
        return [c.public_key() for c in certs if c.not_valid_after_utc > now]

    # ------------------------------------------------------------------ brokers

    def register_broker(
        self, name: str, directory: Path, pid_file: Path, host: str, port: int
    ) -> None:
        """Remember a running broker that reads its CRL from `directory`."""
        (self.dir / "brokers").mkdir(exist_ok=True)
        entry = {"dir": str(Path(directory).resolve()), "pid_file": str(pid_file)}
        entry |= {"host": host, "port": port}
        (self.dir / "brokers" / f"{name}.json").write_text(json.dumps(entry))

    def unregister_broker(self, name: str) -> None:
        (self.dir / "brokers" / f"{name}.json").unlink(missing_ok=True)

    def _broker_names(self) -> list[str]:
        return sorted(path.stem for path in (self.dir / "brokers").glob("*.json"))

    def write_broker_files(self, directory: Path, *, access: bool) -> None:
        """The CRL and, for a broker about to start, the access configuration."""
        d = Path(directory)
        write_private(d / "crl.pem", self.crl_pem(), mode=0o644)
        if access:
            roles = self.access()
            config = dynsec_config_from(roles)
            write_private(d / "dynsec.json", json.dumps(config, indent=1).encode(), mode=0o644)

    def publish(self) -> list[str]:
        """Bring every running broker in line: new CRL (SIGHUP), then admit and remove clients.

        Returns the names of the brokers that could not be brought in line now (each is at its
        next start): a revocation is not complete while any is listed."""
        roles, crl = self.access(), self.crl_pem()
        to_end = self._connections_to_end()
        missed: list[str] = []
        for entry_file in sorted((self.dir / "brokers").glob("*.json")):
            entry = json.loads(entry_file.read_text())
            name, ending = entry_file.stem, to_end.get(entry_file.stem, {})
            write_private(Path(entry["dir"]) / "crl.pem", crl, mode=0o644)
            try:
                pid = int(Path(entry["pid_file"]).read_text().strip())
                os.kill(pid, signal.SIGHUP)
                changes = self._sync(entry["host"], entry["port"], roles, set(ending.values()))
            except (OSError, ValueError, BrokerControlError) as exc:
                log.warning("broker %s not updated now (it will be at its start): %s", name, exc)
                missed.append(name)
                continue
            self._connections_ended(list(ending))
            if changes:
                log.info(
                    "broker %s: admitted %d (%s), removed %d (%s), updated %d (%s),"
                    " renewed %d (%s)",
                    name,
                    len(changes.added),
                    _some(changes.added),
                    len(changes.removed),
                    _some(changes.removed),
                    len(changes.updated),
                    _some(changes.updated),
                    len(changes.renewed),
                    _some(changes.renewed),
                )
        return missed

    def _connections_to_end(self) -> dict[str, dict[int, str]]:
        """Broker -> {row id: terminal id} of the re-enrolled terminals whose connection there
        is still to be ended. Rows of a broker no longer registered go: it was stopped, and its
        start ended every connection."""
        registered = self._broker_names()
        with self._db() as db:
            rows = db.execute("SELECT id, cn, broker FROM connections_to_end").fetchall()
            db.executemany(
                "DELETE FROM connections_to_end WHERE id=?",
                [(row_id,) for row_id, _cn, broker in rows if broker not in registered],
            )
        found: dict[str, dict[int, str]] = {}
        for row_id, cn, broker in rows:
            if broker in registered:
                found.setdefault(broker, {})[row_id] = cn
        return found

    def _connections_ended(self, row_ids: list[int]) -> None:
        """Forget the rows a broker has acted on; a re-enrollment since has rows of its own."""
        with self._db() as db:
            db.executemany("DELETE FROM connections_to_end WHERE id=?", [(i,) for i in row_ids])

    def _sync(
        self, host: str, port: int, roles: dict[str, list[dict[str, Any]]], renew: set[str]
    ) -> BrokerChanges:
        """The control session, once more if refused: Mosquitto re-reads its CRL after the
        SIGHUP, and the session can arrive first (refused while the CRL it holds is stale)."""
        for _ in range(SYNC_ATTEMPTS - 1):
            with contextlib.suppress(BrokerControlError):
                return BrokerControl(host, port, self.control_tls()).sync(roles, renew)
            time.sleep(SYNC_PAUSE_S)
        return BrokerControl(host, port, self.control_tls()).sync(roles, renew)


def _some(names: list[str], shown: int = 10) -> str:
    """A few names of a long list, for a log line a fleet's enrollment does not flood."""
    more = f", +{len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
