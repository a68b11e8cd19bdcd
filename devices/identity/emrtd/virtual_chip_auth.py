"""The virtual chip's side of Chip Authentication: DG14, MSE:Set AT/KAT, GENERAL AUTHENTICATE.

The chip holds a static ECDH key pair on P-256 (or, for `"aes-explicit"`, on brainpoolP256r1
with the curve spelled out as ECParameters) and publishes the public key in DG14 with one
ChipAuthenticationInfo. A cloned chip (`cloned=True`) carries the same DG14 but a private key
of its own, as a copy made from the readable files would: it answers every command, and its
secure messaging then runs under keys the terminal does not share.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import tlv
from .cms import decode_oid, encode_oid
from .ec_keys import explicit_spki
from .ec_points import BRAINPOOL_P256R1
from .security_infos import OID_PK_ECDH, PROTOCOLS
from .sm import CardChannel, kdf

CA_PROTOCOLS = {
    "aes": "0.4.0.127.0.7.2.2.3.2.2",
    "3des": "0.4.0.127.0.7.2.2.3.2.1",
    "aes-explicit": "0.4.0.127.0.7.2.2.3.2.2",  # brainpoolP256r1 spelled out, as German chips
}
SW_OK = 0x9000
SW_WRONG_DATA = 0x6A80
SW_CONDITIONS = 0x6985


class VirtualChipAuthentication:
    """Chip Authentication as the chip performs it (one protocol, one key)."""

    def __init__(self, variant: str = "aes", *, cloned: bool = False):
        if variant not in CA_PROTOCOLS:
            raise ValueError(f"chip_authentication must be one of {sorted(CA_PROTOCOLS)}")
        self.protocol = CA_PROTOCOLS[variant]
        self._explicit = variant == "aes-explicit"
        self._curve = ec.BrainpoolP256R1() if self._explicit else ec.SECP256R1()
        self._key = ec.generate_private_key(self._curve)
        self._public = self._key.public_key()
        if cloned:
            self._key = ec.generate_private_key(self._curve)  # DG14 still names the original
        self._chosen: str | None = None

    def security_infos(self) -> list[bytes]:
        """ChipAuthenticationInfo and ChipAuthenticationPublicKeyInfo, for DG14."""
        spki = self._public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if self._explicit:
            point = self._public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
            spki = explicit_spki(BRAINPOOL_P256R1, point)
        info = tlv.encode(0x30, encode_oid(self.protocol) + tlv.encode(0x02, b"\x01"))
        return [info, tlv.encode(0x30, encode_oid(OID_PK_ECDH) + spki)]

    def dg14(self) -> bytes:
        """DG14 holding only this protocol's SecurityInfos."""
        return dg14(self.security_infos())

    def reset(self) -> None:
        self._chosen = None

    def execute(
        self, ins: int, p1: int, p2: int, data: bytes
    ) -> tuple[bytes, int, CardChannel | None]:
        """Answer MSE or GENERAL AUTHENTICATE; a channel when SM must restart after the reply."""
        try:
            if ins == 0x22 and (p1, p2) == (0x41, 0xA4):
                oid = decode_oid(tlv.parse_all(data)[0].value)
                if oid != self.protocol:
                    return b"", SW_WRONG_DATA, None
                self._chosen = oid
                return b"", SW_OK, None
            if ins == 0x22 and (p1, p2) == (0x41, 0xA6) and self.protocol.endswith(".1"):
                point = tlv.parse_all(data)[0]
                if point.tag != 0x91:
                    return b"", SW_WRONG_DATA, None
                return b"", SW_OK, self._agree(point.value)
            if ins == 0x86 and self._chosen is not None:
                point = tlv.parse_single(data, 0x7C).child(0x80).value
                self._chosen = None
                return tlv.encode(0x7C, b""), SW_OK, self._agree(point)
        except (tlv.TlvError, ValueError, IndexError):
            return b"", SW_WRONG_DATA, None
        return b"", SW_CONDITIONS, None

    def _agree(self, point: bytes) -> CardChannel:
        terminal = ec.EllipticCurvePublicKey.from_encoded_point(self._curve, point)
        secret = self._key.exchange(ec.ECDH(), terminal)
        _, cipher, bits = PROTOCOLS[self.protocol]
        return CardChannel(kdf(secret, 1, cipher, bits), kdf(secret, 2, cipher, bits), 0, cipher)


def dg14(security_infos: list[bytes]) -> bytes:
    """DG14: a DER SET OF SecurityInfo in tag 6E."""
    return tlv.encode(0x6E, tlv.encode(0x31, b"".join(sorted(security_infos))))
