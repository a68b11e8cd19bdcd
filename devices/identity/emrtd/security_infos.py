"""SecurityInfos (ICAO Doc 9303-11 §9.2, BSI TR-03110-3 A.1): what EF.CardAccess and DG14 offer.

EF.CardAccess is a DER SET OF SecurityInfo; DG14 wraps the same SET in tag 6E. Each
SecurityInfo is SEQUENCE { protocol OID, requiredData, optionalData }. Kept here: PACEInfo
(version, parameterId), ChipAuthenticationInfo (version, keyId),
ChipAuthenticationPublicKeyInfo (SubjectPublicKeyInfo, keyId), for the ECDH variants with
3DES or AES that this reader speaks, and ActiveAuthenticationInfo (version, signature OID).
Other entries are skipped, as the standard asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import tlv
from .cms import expect, oid_of
from .errors import CorruptData

OID_PK_ECDH = "0.4.0.127.0.7.2.2.1.2"
OID_ACTIVE_AUTHENTICATION = "2.23.136.1.1.5"
_CA_ECDH = "0.4.0.127.0.7.2.2.3.2"
_PACE_ECDH_GM = "0.4.0.127.0.7.2.2.4.2"
# protocol OID -> (name, secure-messaging cipher, key bits)
PROTOCOLS = {
    f"{_CA_ECDH}.1": ("id-CA-ECDH-3DES-CBC-CBC", "3des", 128),
    f"{_CA_ECDH}.2": ("id-CA-ECDH-AES-CBC-CMAC-128", "aes", 128),
    f"{_CA_ECDH}.3": ("id-CA-ECDH-AES-CBC-CMAC-192", "aes", 192),
    f"{_CA_ECDH}.4": ("id-CA-ECDH-AES-CBC-CMAC-256", "aes", 256),
    f"{_PACE_ECDH_GM}.1": ("id-PACE-ECDH-GM-3DES-CBC-CBC", "3des", 128),
    f"{_PACE_ECDH_GM}.2": ("id-PACE-ECDH-GM-AES-CBC-CMAC-128", "aes", 128),
    f"{_PACE_ECDH_GM}.3": ("id-PACE-ECDH-GM-AES-CBC-CMAC-192", "aes", 192),
    f"{_PACE_ECDH_GM}.4": ("id-PACE-ECDH-GM-AES-CBC-CMAC-256", "aes", 256),
}


@dataclass(frozen=True)
class ChipAuthenticationInfo:
    protocol: str
    version: int
    key_id: int | None = None


@dataclass(frozen=True)
class ChipAuthenticationPublicKey:
    public_key: bytes = field(repr=False)  # SubjectPublicKeyInfo DER
    key_id: int | None = None


@dataclass(frozen=True)
class ActiveAuthenticationInfo:
    version: int
    signature_algorithm: str  # OID of the ECDSA scheme the chip signs with


@dataclass(frozen=True)
class PaceInfo:
    protocol: str
    version: int
    parameter_id: int | None = None  # standardized domain parameters (12 P-256, 13 bp256r1)


SecurityInfo = (
    ChipAuthenticationInfo | ChipAuthenticationPublicKey | PaceInfo | ActiveAuthenticationInfo
)


def protocol_name(oid: str) -> str:
    """The TR-03110 name of a protocol OID, or the OID itself."""
    return PROTOCOLS.get(oid, (oid,))[0]


def _int(item: tlv.Tlv, what: str) -> int:
    return int.from_bytes(expect(item, 0x02, what).value, "big")


def parse_security_infos(data: bytes, outer_tag: int | None = None) -> list[SecurityInfo]:
    """The SecurityInfos this reader can use, from EF.CardAccess (no tag) or DG14 (6E)."""
    root = tlv.parse_single(data, outer_tag) if outer_tag is not None else None
    infos = root.child(0x31) if root is not None else tlv.parse_single(data, 0x31)
    found: list[SecurityInfo] = []
    try:
        for entry in infos.children():
            parts = expect(entry, 0x30, "SecurityInfo").children()
            if len(parts) < 2:
                raise CorruptData("SecurityInfo lacks its required data")
            protocol = oid_of(parts[0], "SecurityInfo protocol")
            optional = parts[2] if len(parts) > 2 else None
            if protocol == OID_PK_ECDH:
                key_id = _int(optional, "keyId") if optional is not None else None
                found.append(ChipAuthenticationPublicKey(parts[1].encode(), key_id))
            elif protocol.startswith(_CA_ECDH + ".") and protocol in PROTOCOLS:
                key_id = _int(optional, "keyId") if optional is not None else None
                found.append(ChipAuthenticationInfo(protocol, _int(parts[1], "version"), key_id))
            elif protocol == OID_ACTIVE_AUTHENTICATION and optional is not None:
                algorithm = oid_of(optional, "signatureAlgorithm")
                found.append(ActiveAuthenticationInfo(_int(parts[1], "version"), algorithm))
            elif protocol.startswith(_PACE_ECDH_GM + ".") and protocol in PROTOCOLS:
                param = _int(optional, "parameterId") if optional is not None else None
                found.append(PaceInfo(protocol, _int(parts[1], "version"), param))
    except (IndexError, ValueError) as exc:
        raise CorruptData(f"SecurityInfos are malformed ({type(exc).__name__})") from exc
    return found
