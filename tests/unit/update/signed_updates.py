"""The backend's part in an update request, as the root updater sees it: real Ed25519 keys, real
signatures over the exact payload, and the trust file root keeps (terminal/update_trust.py);
and release tarballs made in memory."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from cloud_bridge.contract import messages as m
from cloud_bridge.contract.signing import BackendSigner, SignedDownstream
from terminal.update_trust import UpdateTrust


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    """A tarball of these files (name: content), gzipped unless `mode` is "w"."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode=mode) as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return data.getvalue()


class Backend:
    """A backend signing key and its sequence numbers for one terminal."""

    def __init__(self, terminal_id: str = "T0001"):
        self.terminal_id = terminal_id
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.seq = 0

    @property
    def public_hex(self) -> str:
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return raw.hex()

    def trusted_by(self, trust_file: Path, *keys: str) -> Path:
        """Root's trust file, as `allhours update trust` writes it, trusting this key (or
        `keys`)."""
        UpdateTrust(self.terminal_id, keys or (self.public_hex,)).save(trust_file)
        return trust_file

    def command(
        self,
        version: str,
        sha256: str,
        size: int = 1,
        *,
        terminal_id: str | None = None,
        expires_in: timedelta = timedelta(minutes=30),
        operation_id: str = "r-9",
        backend_keys: tuple[str, ...] = (),
    ) -> m.UpdateSoftware:
        return m.UpdateSoftware(
            terminal_id=terminal_id or self.terminal_id,
            operation_id=operation_id,
            expires_at=m.utcnow() + expires_in,
            version=version,
            archive_url=f"https://releases.site.example/allhours-{version}.tar.gz",
            sha256=sha256,
            size_bytes=size,
            backend_keys=list(backend_keys),
        )

    def sign(self, command: m.Message, seq: int | None = None) -> SignedDownstream:
        """`command` as the link hands it over: on its topic, with the next sequence number."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        payload = command.encode()
        signature = BackendSigner(self.key).sign(command.topic(), seq, payload)
        return SignedDownstream(command.topic(), seq, payload, signature)

    def request(self, archive: Path, version: str, sha256: str, **fields: object) -> dict:
        """What the kiosk drops: the archive's path and the signed command."""
        signed = self.sign(self.command(version, sha256, **fields))  # type: ignore[arg-type]
        return {"archive": str(archive), "command": signed.to_json()}

    def drop(self, update: Path, archive: Path, version: str, sha256: str, **fields) -> Path:
        request = update / "request.json"
        request.write_text(json.dumps(self.request(archive, version, sha256, **fields)))
        return request
