"""End-to-end signatures of wire contract v1, carried in MQTT 5 user properties.

Every publish carries `sig` (base64 signature) and, downstream, `seq` (the backend's per-terminal
sequence number). The signed bytes are

    b"allhours/v1\\n" + direction + b"\\n" + topic + b"\\n" + seq + b"\\n" + payload

where `payload` is the exact JSON body on the wire, so the signature covers the terminal id, the
message id, the type, the body, `sent_at` and `expires_at` as they were sent, and the topic and
sequence number beside them. Signing the bytes as sent needs no canonical re-encoding, and a
change to any byte breaks it. Downstream (backend to terminal) signs with the backend's Ed25519
key; upstream (terminal to backend) with the terminal's own P-256 key, the one its certificate
holds (ADR 0007).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

SIG = "sig"
SEQ = "seq"
DOWN, UP = b"down", b"up"
MAX_SIG_CHARS = 200


class SignatureError(ValueError):
    """A message whose signature is missing, malformed or does not hold."""


def signed_bytes(direction: bytes, topic: str, seq: int, payload: bytes) -> bytes:
    """The exact bytes a signature covers."""
    return b"\n".join([b"allhours/v1", direction, topic.encode(), str(seq).encode(), payload])


def _decode_sig(sig: str | None) -> bytes:
    if not sig:
        raise SignatureError("unsigned")
    if len(sig) > MAX_SIG_CHARS:
        raise SignatureError("signature too long")
    try:
        return base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature is not base64") from None


class BackendSigner:
    """Signs downstream messages with the backend's Ed25519 key."""

    def __init__(self, private_key: ed25519.Ed25519PrivateKey):
        self._key = private_key

    @classmethod
    def from_raw(cls, raw: bytes) -> BackendSigner:
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(raw))

    def sign(self, topic: str, seq: int, payload: bytes) -> str:
        return base64.b64encode(self._key.sign(signed_bytes(DOWN, topic, seq, payload))).decode()


class BackendKeys:
    """The backend public keys a terminal trusts (its bundle's list: old and new in a rotation)."""

    def __init__(self, public_keys_hex: Iterable[str]):
        self._keys = [
            ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(k)) for k in public_keys_hex
        ]
        if not self._keys:
            raise ValueError("a terminal needs at least one backend public key")

    def verify(self, topic: str, seq: int, payload: bytes, sig: str | None) -> None:
        """Return if any trusted key signed exactly these bytes; SignatureError otherwise."""
        raw = _decode_sig(sig)
        data = signed_bytes(DOWN, topic, seq, payload)
        for key in self._keys:
            try:
                key.verify(raw, data)
                return
            except InvalidSignature:
                continue
        raise SignatureError("signature does not hold for any trusted backend key")


@dataclass(frozen=True)
class SignedDownstream:
    """A downstream message as it arrived, signature and all, so that another process can check
    the backend's signature again itself: the root updater does, for the update command the
    unprivileged kiosk hands it (terminal/software_update.py, terminal/update_trust.py)."""

    topic: str
    seq: int
    payload: bytes
    signature: str

    def verify(self, keys: BackendKeys) -> None:
        """Return if one of `keys` signed it; SignatureError otherwise."""
        keys.verify(self.topic, self.seq, self.payload, self.signature)

    def to_json(self) -> dict[str, object]:
        # The payload is the JSON the contract decoded, so UTF-8: kept as text, byte for byte.
        return {
            "topic": self.topic,
            "seq": self.seq,
            "payload": self.payload.decode("utf-8"),
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: object) -> SignedDownstream:
        """Read back what `to_json` wrote; SignatureError naming what is not of that shape."""
        if not isinstance(data, dict):
            raise SignatureError("the signed command is not a JSON object")
        for key, kind in (("topic", str), ("seq", int), ("payload", str), ("signature", str)):
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise SignatureError(f"the signed command's {key} is not a {kind.__name__}")
        for key in ("topic", "payload", "signature"):
            try:
                data[key].encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: not what the backend sent
                raise SignatureError(f"the signed command's {key} is not UTF-8") from None
        return cls(data["topic"], data["seq"], data["payload"].encode("utf-8"), data["signature"])


class TerminalSigner:
    """Signs upstream messages with the terminal's certificate key (P-256 ECDSA)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey):
        self._key = private_key

    @classmethod
    def from_pem(cls, pem: bytes) -> TerminalSigner:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("a terminal signs with its P-256 certificate key")
        return cls(key)

    def sign(self, topic: str, payload: bytes) -> str:
        raw = self._key.sign(signed_bytes(UP, topic, 0, payload), ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(raw).decode()


def verify_upstream(
    public_keys: Iterable[ec.EllipticCurvePublicKey], topic: str, payload: bytes, sig: str | None
) -> None:
    """Return if one of the terminal's certificate keys signed these bytes; SignatureError else."""
    raw = _decode_sig(sig)
    data = signed_bytes(UP, topic, 0, payload)
    for key in public_keys:
        try:
            key.verify(raw, data, ec.ECDSA(hashes.SHA256()))
            return
        except InvalidSignature:
            continue
    raise SignatureError("signature does not hold for any key of this terminal")


def user_properties(props: object) -> dict[str, str]:
    """The MQTT 5 user properties of a received message as a dict (the last of each name)."""
    pairs = getattr(props, "UserProperty", None) or []
    return {str(k): str(v) for k, v in pairs}
