"""The virtual chip's side of PACE (ECDH generic mapping, AES-128, MRZ password).

EF.CardAccess announces one PACEInfo (version 2, the standardized domain parameters given).
The chip answers `MSE:Set AT` and the four chained `GENERAL AUTHENTICATE` steps as ICAO Doc
9303-11 §4.4 describes them; after the terminal's token checks out, secure messaging starts
on AES with SSC 0. A terminal holding the wrong MRZ derives another nonce, so its token does
not verify and the chip answers 6300.
"""

from __future__ import annotations

import hmac
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import tlv
from .cms import decode_oid, encode_oid
from .ec_points import STANDARD_DOMAIN_PARAMETERS
from .errors import SecureMessagingError
from .mrz import MrzKey
from .pace import PASSWORD_MRZ, auth_token, password_key
from .sm import AES, CardChannel, kdf

PACE_AES128 = "0.4.0.127.0.7.2.2.4.2.2"
SW_OK = 0x9000
SW_AUTH_FAILED = 0x6300
SW_WRONG_DATA = 0x6A80
SW_CONDITIONS = 0x6985


def card_access(parameter_id: int) -> bytes:
    """EF.CardAccess with one PACEInfo."""
    info = (
        encode_oid(PACE_AES128)
        + tlv.encode(0x02, b"\x02")
        + tlv.encode(0x02, bytes([parameter_id]))
    )
    return tlv.encode(0x31, tlv.encode(0x30, info))


class VirtualPace:
    """PACE as the chip performs it; `execute` answers plain MSE and GENERAL AUTHENTICATE."""

    def __init__(self, mrz_key: MrzKey, parameter_id: int = 13):
        if parameter_id not in STANDARD_DOMAIN_PARAMETERS:
            raise ValueError(f"PACE domain parameters {parameter_id} are not 12 or 13")
        self.parameter_id = parameter_id
        self.curve = STANDARD_DOMAIN_PARAMETERS[parameter_id]
        self._k_pi = password_key(mrz_key, 128)
        self.reset()

    def reset(self) -> None:
        self._step = 0
        self._nonce = 0
        self._generator = None
        self._keys: tuple[bytes, bytes] | None = None
        self._own_key = b""
        self._terminal_key = b""

    def execute(
        self, ins: int, p1: int, p2: int, data: bytes
    ) -> tuple[bytes, int, CardChannel | None]:
        """Answer one plain PACE command; a channel once PACE has succeeded."""
        try:
            if ins == 0x22 and (p1, p2) == (0xC1, 0xA4):
                return self._set_at(data)
            if ins == 0x86 and self._step:
                return self._general_authenticate(tlv.parse_single(data, 0x7C))
        except (tlv.TlvError, SecureMessagingError, ValueError, IndexError):
            self.reset()
            return b"", SW_WRONG_DATA, None
        return b"", SW_CONDITIONS, None

    def _set_at(self, data: bytes) -> tuple[bytes, int, None]:
        objects = {item.tag: item.value for item in tlv.parse_all(data)}
        if decode_oid(objects.get(0x80, b"\x00")) != PACE_AES128 or objects.get(0x83) != bytes(
            [PASSWORD_MRZ]
        ):
            return b"", SW_WRONG_DATA, None
        self.reset()
        self._step = 1
        return b"", SW_OK, None

    def _general_authenticate(self, template: tlv.Tlv) -> tuple[bytes, int, CardChannel | None]:
        curve = self.curve
        objects = {item.tag: item.value for item in template.children()}
        if self._step == 1 and not objects:
            nonce = os.urandom(16)
            self._nonce = int.from_bytes(nonce, "big")
            engine = Cipher(algorithms.AES(self._k_pi), modes.CBC(bytes(16))).encryptor()
            self._step = 2
            return _answer(0x80, engine.update(nonce) + engine.finalize())
        if self._step == 2 and 0x81 in objects:
            terminal = curve.decode(objects[0x81])
            secret = curve.random_scalar()
            shared = curve.multiply(secret, terminal)
            self._generator = curve.add(curve.multiply(self._nonce, curve.generator), shared)
            self._step = 3
            return _answer(0x82, curve.encode(curve.multiply(secret, curve.generator)))
        if self._step == 3 and 0x83 in objects:
            self._terminal_key = objects[0x83]
            terminal = curve.decode(self._terminal_key)
            secret = curve.random_scalar()
            self._own_key = curve.encode(curve.multiply(secret, self._generator))
            if self._own_key == self._terminal_key:
                raise SecureMessagingError("terminal echoed the chip's key")
            agreed = curve.multiply(secret, terminal)
            shared_x = agreed[0].to_bytes(curve.size, "big")
            self._keys = (kdf(shared_x, 1, AES, 128), kdf(shared_x, 2, AES, 128))
            self._step = 4
            return _answer(0x84, self._own_key)
        if self._step == 4 and 0x85 in objects and self._keys is not None:
            ks_enc, ks_mac = self._keys
            expected = auth_token(ks_mac, PACE_AES128, self._own_key)
            if not hmac.compare_digest(expected, objects[0x85]):
                self.reset()
                return b"", SW_AUTH_FAILED, None  # the terminal used another password
            token = auth_token(ks_mac, PACE_AES128, self._terminal_key)
            self.reset()
            data, sw, _ = _answer(0x86, token)
            return data, sw, CardChannel(ks_enc, ks_mac, 0, AES)
        self.reset()
        return b"", SW_CONDITIONS, None


def _answer(tag: int, value: bytes) -> tuple[bytes, int, None]:
    return tlv.encode(0x7C, tlv.encode(tag, value)), SW_OK, None
