"""The backend's part in enrollment: its own broker identity, and each terminal's bundle."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cloud_bridge.contract.signing import BackendSigner
from provisioning.authority import BACKEND, EnrollmentRefused, SiteAuthority
from provisioning.bundle import EnrollmentBundle
from provisioning.enrollment_server import EnrollmentServer
from provisioning.tls import ClientTls

from .service import BackendService
from .wire_signing import WorkerCredentials

log = logging.getLogger(__name__)


def worker_identity(authority: SiteAuthority, client_id: str) -> WorkerCredentials:
    """This worker's broker certificate (CN = client id, issued on first start), the backend's
    signing key, and the terminals' certificate keys to check their signatures against."""
    files = ClientTls.in_dir(authority.dir / "workers" / client_id)
    if not files.cert_file.exists():
        authority.issue_identity(client_id, BACKEND, files.cert_file.parent)
        authority.publish()
    return WorkerCredentials(
        tls=files,
        signer=CurrentSigner(authority),
        terminal_keys=authority.terminal_public_keys,
        trusted_keys=authority.backend_signing_keys,
    )


class CurrentSigner:
    """The backend's signer for the key that is current now, read again when the file changes."""

    def __init__(self, authority: SiteAuthority):
        self.authority = authority
        self._stamp: tuple[int, int] | None = None
        self._signer: BackendSigner | None = None

    def __call__(self) -> BackendSigner:
        # Called for every downstream message: a stat each time, the key read only on a change.
        if self._signer is None:
            self.authority.backend_signing_key()  # made on first use
        stamp = self.authority.signing_key_stamp()
        if self._signer is None or stamp != self._stamp:
            raw = self.authority.backend_signing_key()
            self._signer, self._stamp = BackendSigner.from_raw(raw), stamp
        return self._signer


class TerminalBundles:
    """Makes a terminal's bundle: its broker's address, a fresh pickup-code key registered here,
    and what it trusts.

    The broker is the one the registry assigns the terminal to (`allhours provision token
    --broker NAME`), looked up by name in `brokers` (the backend settings' brokers table); a
    terminal assigned to none gets the default broker. A name the backend does not know
    refuses the enrollment before the token is spent.
    """

    def __init__(
        self,
        service: BackendService,
        authority: SiteAuthority,
        broker_host: str,
        broker_port: int,
        public_url: str | None = None,
        brokers: Mapping[str, tuple[str, int]] | None = None,
    ):
        self.service, self.authority = service, authority
        self.broker_host, self.broker_port, self.public_url = broker_host, broker_port, public_url
        self.brokers = dict(brokers or {})

    def broker_address(self, broker: str | None) -> tuple[str, int]:
        """Where a terminal assigned to `broker` connects."""
        if broker is None:
            return self.broker_host, self.broker_port
        try:
            return self.brokers[broker]
        except KeyError:
            known = ", ".join(sorted(self.brokers)) or "none"
            raise EnrollmentRefused(
                "unknown_broker",
                f"the token assigns this terminal to broker {broker!r}, which the backend's"
                f" settings do not name (brokers: {known}); the token is not spent",
            ) from None

    def __call__(self, terminal_id: str, broker: str | None, endpoint_url: str) -> dict[str, Any]:
        host, port = self.broker_address(broker)
        # A re-enrolled terminal gets a new key: codes made with the old one stop opening.
        key = secrets.token_bytes(32)
        self.service.register_terminal(terminal_id, key)
        return EnrollmentBundle(
            terminal_id=terminal_id,
            broker_host=host,
            broker_port=port,
            # Where the terminal renews: the name it reaches us by, not a wildcard bind address.
            enroll_url=self.public_url or endpoint_url,
            pickup_code_key=key,
            applicant_key=self.service.applicant_key,
            backend_signing_keys=self.authority.backend_signing_keys(),
        ).to_json()


def enrollment_server(
    service: BackendService,
    authority: SiteAuthority,
    *,
    broker_host: str,
    broker_port: int,
    host: str,
    port: int,
    public_url: str | None = None,
    server_names: tuple[str, ...] = (),
    brokers: Mapping[str, tuple[str, int]] | None = None,
) -> EnrollmentServer:
    """The HTTPS enrollment endpoint wired to this backend (not started); `brokers` names the
    brokers tokens may assign terminals to, `broker_host:broker_port` is the default one."""
    return EnrollmentServer(
        authority,
        TerminalBundles(service, authority, broker_host, broker_port, public_url, brokers),
        host=host,
        port=port,
        server_names=server_names,
        tls_dir=Path(authority.dir) / "enrollment",
    )
