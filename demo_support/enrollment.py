"""A terminal enrolled at a local site's authority, for training kiosks that serve nobody: the
screenshots, the tests and the benchmarks.

The one-time token is spent on a key made here and the certificate written where
`allhours enroll` writes it, with the bundle a backend hands out; only the HTTPS transport is
left out (`allhours enroll` and the end-to-end tests go through it). The terminal is then built
by allhours.bootstrap from that data dir, as any other.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from provisioning import pki
from provisioning.authority import SiteAuthority
from provisioning.bundle import EnrollmentBundle, TerminalIdentity
from provisioning.tls import ClientTls, write_private


def enroll_at_site(
    authority: SiteAuthority,
    data_dir: Path,
    terminal_id: str = "T0001",
    *,
    broker_host: str = "127.0.0.1",
    broker_port: int = 9,
    pickup_code_key: bytes | None = None,
    applicant_key: bytes | None = None,
) -> Path:
    """`data_dir` enrolled at `authority`'s site, its bundle naming the broker (port 9, the
    default: nothing listens) and the fleet's keys (fresh ones unless given). Returns data_dir."""
    key = pki.new_key()
    token = authority.issue_token(terminal_id, created_by="local enrollment")
    cert, _ = authority.enroll(str(token), pki.make_csr(key, terminal_id))
    directory = TerminalIdentity.dir_of(data_dir)
    files = ClientTls.in_dir(directory)
    write_private(files.key_file, pki.key_pem(key))
    write_private(files.cert_file, pki.cert_pem(cert), mode=0o644)
    write_private(files.ca_file, authority.ca_pem, mode=0o644)
    bundle = EnrollmentBundle(
        terminal_id=terminal_id,
        broker_host=broker_host,
        broker_port=broker_port,
        enroll_url=f"https://{broker_host}:9",  # no enrollment endpoint: renewal waits
        pickup_code_key=pickup_code_key or secrets.token_bytes(32),
        applicant_key=applicant_key or secrets.token_bytes(32),
        backend_signing_keys=authority.backend_signing_keys(),
    )
    write_private(directory / "bundle.json", json.dumps(bundle.to_json()).encode())
    authority.publish()  # a broker of this site admits the certificate at once
    return data_dir
