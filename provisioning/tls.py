"""The files a client connects with (CA, certificate, key) and the TLS context made from them."""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path


class IdentityFileError(RuntimeError):
    """A certificate or key file is missing or unreadable; the message names the file."""


@dataclass(frozen=True)
class ClientTls:
    """Where one client's trust anchor, certificate and private key live."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def in_dir(cls, directory: Path) -> ClientTls:
        """The standard layout of an identity directory: ca.pem, cert.pem, key.pem."""
        d = Path(directory)
        return cls(d / "ca.pem", d / "cert.pem", d / "key.pem")

    def context(self) -> ssl.SSLContext:
        """A client context that checks the server against the site CA and shows our certificate."""
        for path in (self.ca_file, self.cert_file, self.key_file):
            if not Path(path).is_file():
                raise IdentityFileError(f"{path} is missing: enroll this client first")
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.load_into(ctx)
        return ctx

    def load_into(self, ctx: ssl.SSLContext) -> None:
        """(Re)load certificate and key; later handshakes of `ctx` present the new ones."""
        try:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise IdentityFileError(
                f"{self.cert_file}: cannot load it with its key: {exc}"
            ) from None


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` atomically (temp file + rename) with `mode` from the first byte."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
