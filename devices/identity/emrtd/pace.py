"""PACE with the MRZ password (ICAO Doc 9303-11 §4.4, BSI TR-03110-2): ECDH, generic mapping, AES.

1. `MSE:Set AT` (`0022 C1A4`: DO'80' protocol OID, DO'83' 01 = MRZ password).
2. `GENERAL AUTHENTICATE` (chained, CLA 10): the chip's nonce z = E(K_pi, s), where
   K_pi = KDF(SHA-1(MRZ information), 3).
3. Mapping: both sides exchange keys on G (DO'81'/DO'82'); H = sk * PK_chip and
   G' = s*G + H.
4. Key agreement: ephemeral keys on G' (DO'83'/DO'84'); K = x(sk' * PK'_chip).
5. KSenc = KDF(K, 1), KSmac = KDF(K, 2); the tokens T = CMAC(KSmac, 7F49 {06 OID, 86 other
   side's key})[:8] go in DO'85'/DO'86'. Secure messaging then runs on AES with SSC 0.
Before secure messaging exists, any refusal means a wrong password: `AccessDenied`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import tlv
from .cms import encode_oid
from .ec_points import STANDARD_DOMAIN_PARAMETERS, Curve
from .errors import AccessDenied, SecureMessagingError, UnsupportedDocument
from .mrz import MrzKey
from .security_infos import PROTOCOLS, PaceInfo, SecurityInfo
from .sm import AES, ReaderChannel, aes_cmac, kdf

Transmit = Callable[[bytes], tuple[bytes, int]]
PASSWORD_MRZ = 0x01
COUNTER_PASSWORD = 3
SW_OK = 0x9000


def choose(infos: list[SecurityInfo]) -> PaceInfo | None:
    """The first PACEInfo this reader runs: ECDH generic mapping, AES, P-256 or bp256r1."""
    for info in infos:
        if (
            isinstance(info, PaceInfo)
            and PROTOCOLS[info.protocol][1] == AES
            and info.parameter_id in STANDARD_DOMAIN_PARAMETERS
        ):
            return info
    return None


def password_key(mrz_key: MrzKey, key_bits: int) -> bytes:
    """K_pi from the MRZ password (the full SHA-1 of the MRZ information)."""
    secret = hashlib.sha1(mrz_key.key_seed_info().encode("ascii")).digest()
    return kdf(secret, COUNTER_PASSWORD, AES, key_bits)


def decrypt_nonce(k_pi: bytes, encrypted: bytes) -> bytes:
    """s = D(K_pi, z): AES-CBC with a zero IV over whole blocks."""
    if not encrypted or len(encrypted) % 16:
        raise SecureMessagingError(f"encrypted nonce of {len(encrypted)} bytes")
    engine = Cipher(algorithms.AES(k_pi), modes.CBC(bytes(16))).decryptor()
    return engine.update(encrypted) + engine.finalize()


def auth_token(ks_mac: bytes, protocol: str, public_key: bytes) -> bytes:
    """The authentication token over the other side's ephemeral key."""
    data = tlv.encode(0x7F49, encode_oid(protocol) + tlv.encode(0x86, public_key))
    return aes_cmac(ks_mac, data)[:8]


def _general_authenticate(transmit: Transmit, inner: bytes, tag: int, *, last: bool) -> bytes:
    data = tlv.encode(0x7C, inner)
    cla = 0x00 if last else 0x10  # command chaining until the last step
    answer, sw = transmit(bytes([cla, 0x86, 0x00, 0x00, len(data)]) + data + b"\x00")
    if sw != SW_OK:
        raise AccessDenied(
            f"PACE GENERAL AUTHENTICATE refused with {sw:04X}: the MRZ key (document number, "
            "birth date, expiry date) does not match this document"
        )
    try:
        return tlv.parse_single(answer, 0x7C).child(tag).value
    except tlv.TlvError as exc:
        raise SecureMessagingError(f"PACE answer lacks data object {tag:02X}: {exc}") from exc


def establish(
    transmit: Transmit,
    mrz_key: MrzKey,
    info: PaceInfo,
    *,
    mapping_key: int | None = None,
    ephemeral_key: int | None = None,
) -> ReaderChannel:
    """Run PACE over `transmit`; the AES secure-messaging channel it establishes."""
    curve: Curve = STANDARD_DOMAIN_PARAMETERS[info.parameter_id]
    key_bits = PROTOCOLS[info.protocol][2]
    oid = encode_oid(info.protocol)
    mse = tlv.encode(0x80, oid[2:]) + tlv.encode(0x83, bytes([PASSWORD_MRZ]))
    _, sw = transmit(bytes([0x00, 0x22, 0xC1, 0xA4, len(mse)]) + mse)
    if sw != SW_OK:
        raise UnsupportedDocument(f"MSE:Set AT for PACE answered {sw:04X}")
    nonce = decrypt_nonce(password_key(mrz_key, key_bits), _general_authenticate(
        transmit, b"", 0x80, last=False
    ))  # fmt: skip
    s = int.from_bytes(nonce, "big")

    sk_map = mapping_key or curve.random_scalar()
    pk_map = curve.encode(curve.multiply(sk_map, curve.generator))
    chip_map = curve.decode(
        _general_authenticate(transmit, tlv.encode(0x81, pk_map), 0x82, last=False)
    )
    shared = curve.multiply(sk_map, chip_map)
    if shared is None:
        raise SecureMessagingError("PACE mapping gave the point at infinity")
    generator = curve.add(curve.multiply(s, curve.generator), shared)

    sk_eph = ephemeral_key or curve.random_scalar()
    pk_eph = curve.encode(curve.multiply(sk_eph, generator))
    chip_eph_raw = _general_authenticate(transmit, tlv.encode(0x83, pk_eph), 0x84, last=False)
    chip_eph = curve.decode(chip_eph_raw)
    if chip_eph_raw == pk_eph:
        raise SecureMessagingError("the chip echoed the terminal's ephemeral key")
    agreed = curve.multiply(sk_eph, chip_eph)
    if agreed is None:
        raise SecureMessagingError("PACE key agreement gave the point at infinity")
    secret = agreed[0].to_bytes(curve.size, "big")
    ks_enc, ks_mac = kdf(secret, 1, AES, key_bits), kdf(secret, 2, AES, key_bits)

    token = auth_token(ks_mac, info.protocol, chip_eph_raw)
    chip_token = _general_authenticate(transmit, tlv.encode(0x85, token), 0x86, last=True)
    if not hmac.compare_digest(chip_token, auth_token(ks_mac, info.protocol, pk_eph)):
        raise SecureMessagingError("the chip's PACE authentication token is wrong")
    return ReaderChannel(ks_enc, ks_mac, 0, AES)
