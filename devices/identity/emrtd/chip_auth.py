"""Chip Authentication (ICAO Doc 9303-11 §6.2, BSI TR-03110-1 §3.4): proof the chip is not a copy.

DG14 holds the chip's static ECDH public key, and EF.SOD signs DG14's hash. The terminal
sends an ephemeral public key on the same curve; only a chip holding the static private key
derives the same shared secret, and secure messaging restarts under keys derived from it
(KDF counter 1 for KSenc, 2 for KSmac, SSC 0). A cloned chip (same files, no private key)
cannot answer the next protected command correctly. AES variants: MSE:Set AT (0022 41A4,
DO'80' protocol OID, DO'84' key id) then GENERAL AUTHENTICATE (DO'7C' { DO'80' key }). 3DES
variant: MSE:Set KAT (0022 41A6, DO'91' key, DO'84' key id).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from . import tlv
from .card_session import SW_OK, CardSession
from .cms import encode_oid
from .ec_keys import UnusableKey, load_public_key
from .errors import ChipAuthenticationFailed
from .security_infos import (
    PROTOCOLS,
    ChipAuthenticationInfo,
    ChipAuthenticationPublicKey,
    SecurityInfo,
)
from .sm import ReaderChannel, kdf


@dataclass(frozen=True)
class ChipAuthenticationOffer:
    """A usable Chip Authentication protocol with the chip's static key."""

    info: ChipAuthenticationInfo
    public_key: ec.EllipticCurvePublicKey

    @property
    def name(self) -> str:
        return PROTOCOLS[self.info.protocol][0]


def choose_offer(infos: list[SecurityInfo]) -> ChipAuthenticationOffer | str:
    """The first protocol whose key this reader can use, or the reason there is none."""
    keys = [i for i in infos if isinstance(i, ChipAuthenticationPublicKey)]
    protocols = [i for i in infos if isinstance(i, ChipAuthenticationInfo)]
    if not protocols or not keys:
        return "DG14 offers no ECDH Chip Authentication"
    for info in protocols:
        for key in keys:
            if info.key_id is not None and key.key_id is not None and info.key_id != key.key_id:
                continue
            try:
                public_key = load_public_key(key.public_key)
            except UnusableKey as exc:
                return f"DG14 key: {exc}"
            if isinstance(public_key, ec.EllipticCurvePublicKey):
                return ChipAuthenticationOffer(info, public_key)
    return "no DG14 key fits its Chip Authentication protocol"


def point_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    """The uncompressed point 04 || x || y."""
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def chip_authenticate(session: CardSession, offer: ChipAuthenticationOffer) -> ReaderChannel:
    """Run Chip Authentication under the current secure messaging; the new channel."""
    _, cipher, key_bits = PROTOCOLS[offer.info.protocol]
    ephemeral = ec.generate_private_key(offer.public_key.curve)
    point = point_bytes(ephemeral.public_key())
    key_ref = b""
    if offer.info.key_id is not None:
        key_ref = tlv.encode(0x84, offer.info.key_id.to_bytes(1 + offer.info.key_id // 256, "big"))
    if cipher == "3des":
        _, sw = session.secure(0x22, 0x41, 0xA6, tlv.encode(0x91, point) + key_ref)
        _refused(sw, "MSE:Set KAT")
    else:
        mechanism = tlv.encode(0x80, encode_oid(offer.info.protocol)[2:])
        _, sw = session.secure(0x22, 0x41, 0xA4, mechanism + key_ref)
        _refused(sw, "MSE:Set AT")
        template = tlv.encode(0x7C, tlv.encode(0x80, point))
        _, sw = session.secure(0x86, 0x00, 0x00, template, le=256)  # the chip answers 7C 00
        _refused(sw, "GENERAL AUTHENTICATE")
    secret = ephemeral.exchange(ec.ECDH(), offer.public_key)
    ks_enc, ks_mac = kdf(secret, 1, cipher, key_bits), kdf(secret, 2, cipher, key_bits)
    return ReaderChannel(ks_enc, ks_mac, 0, cipher)


def _refused(sw: int, step: str) -> None:
    if sw != SW_OK:
        raise ChipAuthenticationFailed(f"Chip Authentication: {step} answered {sw:04X}")
