"""What the terminal's link proves and trusts: its TLS context, its signing key, the backend's keys.

Loaded from the enrollment's files at start, and loaded again in place when a renewal or a key
rotation changes them, so the link reconnects and verifies with the new ones (ADR 0006, 0007).
"""

from __future__ import annotations

import ssl

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from provisioning.tls import ClientTls

from .contract import signing


class LinkIdentity:
    """The terminal's certificate, key and trusted backend keys, as the link uses them."""

    def __init__(self, tls: ClientTls, backend_keys: tuple[str, ...]):
        self.tls = tls
        self.context: ssl.SSLContext = tls.context()
        self.trust(backend_keys)
        self._load_signer()

    def trust(self, backend_keys: tuple[str, ...]) -> None:
        """Verify downstream messages against these backend keys from now on."""
        self._backend_keys = signing.BackendKeys(backend_keys)
        self.backend_keys = tuple(backend_keys)

    def reload(self) -> None:
        """Renewed files: later handshakes present the new certificate, and it signs."""
        self.tls.load_into(self.context)
        self._load_signer()

    def _load_signer(self) -> None:
        self._signer = signing.TerminalSigner.from_pem(self.tls.key_file.read_bytes())

    def signed(self, topic: str, payload: bytes, props: Properties | None = None) -> Properties:
        """PUBLISH properties carrying this terminal's signature over topic and payload."""
        props = props or Properties(PacketTypes.PUBLISH)
        props.UserProperty = (signing.SIG, self._signer.sign(topic, payload))
        return props

    def verify(self, topic: str, payload: bytes, properties: object) -> signing.SignedDownstream:
        """The message as the backend signed it (its sequence number, its signature), if the
        backend did sign it; SignatureError otherwise."""
        props = signing.user_properties(properties)
        try:
            seq = int(props.get(signing.SEQ, "0"))
        except ValueError:
            raise signing.SignatureError("sequence number is not a number") from None
        signed = signing.SignedDownstream(topic, seq, payload, props.get(signing.SIG) or "")
        signed.verify(self._backend_keys)
        return signed
