"""Secure messaging (ICAO Doc 9303 Part 11 §9.8): 3DES after BAC, AES after PACE or CA.

3DES: CBC with zero IV, the "retail MAC" (ISO/IEC 9797-1 MAC algorithm 3: DES-CBC with K1,
then DES-decrypt K2 and DES-encrypt K1 on the last block), an 8-byte SSC. AES (§9.8.6.2,
BSI TR-03110): CBC with IV = AES-ECB(KSenc, SSC), AES-CMAC truncated to 8 bytes over the
padded SSC || data, a 16-byte SSC starting at zero. Both pad with ISO/IEC 9797-1 method 2
to their block size and increment the SSC before every command and every response.
`ReaderChannel` is the terminal's side, `CardChannel` the chip's side (the virtual card).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import tlv
from .errors import SecureMessagingError

BLOCK = 8
ZERO_IV = bytes(BLOCK)
SW_OK = 0x9000
SW_SM_MISSING = 0x6987  # expected secure-messaging data objects missing
SW_SM_INCORRECT = 0x6988  # secure-messaging data objects incorrect (e.g. bad MAC)


AES_BLOCK = 16
TDES = "3des"
AES = "aes"


def pad(data: bytes, block: int = BLOCK) -> bytes:
    """ISO/IEC 9797-1 padding method 2."""
    data = data + b"\x80"
    return data + bytes(-len(data) % block)


def unpad(data: bytes, block: int = BLOCK) -> bytes:
    """Remove padding method 2; SecureMessagingError if it is not there."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= block:
        raise SecureMessagingError("decrypted data does not end with ISO 9797-1 method 2 padding")
    return stripped[:-1]


def _des3(key: bytes) -> TripleDES:
    if len(key) == 16:
        key = key + key[:8]  # two-key 3DES: K1 K2 K1
    elif len(key) == 8:
        key = key * 3  # single DES, expressed as 3DES with one key
    return TripleDES(key)


def adjust_parity(key: bytes) -> bytes:
    """Set each byte's low bit so the byte has odd parity (DES key convention)."""
    out = bytearray()
    for byte in key:
        high = byte & 0xFE
        out.append(high | (bin(high).count("1") % 2 == 0))
    return bytes(out)


def tdes_encrypt(key: bytes, data: bytes, iv: bytes = ZERO_IV) -> bytes:
    """3DES-CBC encrypt whole blocks (no padding added)."""
    enc = Cipher(_des3(key), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def tdes_decrypt(key: bytes, data: bytes, iv: bytes = ZERO_IV) -> bytes:
    """3DES-CBC decrypt whole blocks; SecureMessagingError on a partial block."""
    if not data or len(data) % BLOCK:
        raise SecureMessagingError(f"cryptogram of {len(data)} bytes is not whole 8-byte blocks")
    dec = Cipher(_des3(key), modes.CBC(iv)).decryptor()
    return dec.update(data) + dec.finalize()


def retail_mac(key: bytes, message: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with padding method 2 over `message` (8 bytes)."""
    k1, k2 = key[:8], key[8:16]
    padded = pad(message)
    chained = tdes_encrypt(k1, padded)[-BLOCK:]  # single-DES CBC with K1
    dec = Cipher(_des3(k2), modes.ECB()).decryptor()
    step = dec.update(chained) + dec.finalize()
    enc = Cipher(_des3(k1), modes.ECB()).encryptor()
    return enc.update(step) + enc.finalize()


def kdf(secret: bytes, counter: int, cipher: str = TDES, key_bits: int = 128) -> bytes:
    """Session or password key from a shared secret (Doc 9303-11 §9.7.1)."""
    suffix = counter.to_bytes(4, "big")
    if cipher == TDES:
        return adjust_parity(hashlib.sha1(secret + suffix).digest()[:16])
    if key_bits == 128:
        return hashlib.sha1(secret + suffix).digest()[:16]
    return hashlib.sha256(secret + suffix).digest()[: key_bits // 8]


def aes_cbc(key: bytes, data: bytes, iv: bytes, *, decrypt: bool = False) -> bytes:
    """AES-CBC over whole blocks (no padding added)."""
    if not data or len(data) % AES_BLOCK:
        raise SecureMessagingError(f"cryptogram of {len(data)} bytes is not whole 16-byte blocks")
    engine = Cipher(algorithms.AES(key), modes.CBC(iv))
    worker = engine.decryptor() if decrypt else engine.encryptor()
    return worker.update(data) + worker.finalize()


def aes_cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B), full 16 bytes."""
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


@dataclass(frozen=True)
class _Suite:
    """The primitives of one secure-messaging cipher, keyed by the session."""

    cipher: str

    @property
    def block(self) -> int:
        return AES_BLOCK if self.cipher == AES else BLOCK

    def next_ssc(self, ssc: int) -> int:
        return (ssc + 1) % (1 << (8 * self.block))

    def encrypt(self, key: bytes, ssc: int, data: bytes) -> bytes:
        if self.cipher == AES:
            return aes_cbc(key, pad(data, AES_BLOCK), self._iv(key, ssc))
        return tdes_encrypt(key, pad(data))

    def decrypt(self, key: bytes, ssc: int, data: bytes) -> bytes:
        if self.cipher == AES:
            return unpad(aes_cbc(key, data, self._iv(key, ssc), decrypt=True), AES_BLOCK)
        return unpad(tdes_decrypt(key, data))

    def mac(self, key: bytes, ssc: int, message: bytes) -> bytes:
        counter = ssc.to_bytes(self.block, "big")
        if self.cipher == AES:
            return aes_cmac(key, pad(counter + message, AES_BLOCK))[:8]
        return retail_mac(key, counter + message)

    def _iv(self, key: bytes, ssc: int) -> bytes:
        engine = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        return engine.update(ssc.to_bytes(AES_BLOCK, "big")) + engine.finalize()


def _suite(cipher: str) -> _Suite:
    if cipher not in (TDES, AES):
        raise ValueError(f"secure-messaging cipher must be {TDES!r} or {AES!r}")
    return _Suite(cipher)


def _le_bytes(le: int, extended: bool) -> bytes:
    if extended:
        return (le & 0xFFFF).to_bytes(2, "big")  # 0000 means 65536
    return bytes([le & 0xFF])  # 00 means 256


def _cryptogram(suite: _Suite, key: bytes, ssc: int, data: bytes, *, odd: bool) -> bytes:
    """DO'87' (padding indicator 01 + cryptogram), or DO'85' for the BER-TLV data of odd INS."""
    encrypted = suite.encrypt(key, ssc, data)
    return tlv.encode(0x85, encrypted) if odd else tlv.encode(0x87, b"\x01" + encrypted)


def _decrypt(suite: _Suite, key: bytes, ssc: int, objects: dict[int, tlv.Tlv]) -> bytes:
    """The plain data of DO'87' or DO'85', or b"" when there is none."""
    if 0x87 in objects:
        value = objects[0x87].value
        if not value or value[0] != 0x01:
            raise SecureMessagingError("encrypted object 87 lacks padding indicator 01")
        return suite.decrypt(key, ssc, value[1:])
    if 0x85 in objects:
        return suite.decrypt(key, ssc, objects[0x85].value)
    return b""


@dataclass
class ReaderChannel:
    """The terminal's side of a secure-messaging session."""

    ks_enc: bytes
    ks_mac: bytes
    ssc: int
    cipher: str = TDES

    def protect(
        self, cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None
    ) -> bytes:
        """Wrap a plain command into a protected APDU (extended length when it needs it)."""
        self._require_keys()
        suite = _suite(self.cipher)
        self.ssc = suite.next_ssc(self.ssc)
        header = bytes([cla | 0x0C, ins, p1, p2])
        do87 = b""
        if data:
            do87 = _cryptogram(suite, self.ks_enc, self.ssc, data, odd=bool(ins & 1))
        extended = (le is not None and le > 256) or len(data) > 231
        do97 = tlv.encode(0x97, _le_bytes(le, le > 256)) if le is not None else b""
        mac = suite.mac(self.ks_mac, self.ssc, pad(header, suite.block) + do87 + do97)
        body = do87 + do97 + tlv.encode(0x8E, mac)
        if extended or len(body) > 255:
            return header + b"\x00" + len(body).to_bytes(2, "big") + body + b"\x00\x00"
        return header + bytes([len(body)]) + body + b"\x00"

    def unprotect(self, response: bytes, sw: int) -> tuple[bytes, int]:
        """Check and unwrap a protected response; returns (plain data, status word)."""
        self._require_keys()
        suite = _suite(self.cipher)
        self.ssc = suite.next_ssc(self.ssc)
        if not response:
            # A chip may answer an error without SM objects; the session is then over.
            self.close()
            raise SecureMessagingError(f"chip answered {sw:04X} without secure messaging")
        items = tlv.parse_all(response)
        objects = {item.tag: item for item in items}
        do8e = objects.get(0x8E)
        do99 = objects.get(0x99)
        if do8e is None or do99 is None:
            self.close()
            raise SecureMessagingError("protected response lacks its MAC (8E) or status (99)")
        if items[-1].tag != 0x8E or len(objects) != len(items):
            # Anything after the MAC, or a repeated object, would be data the MAC does not cover.
            self.close()
            raise SecureMessagingError("protected response has objects after its MAC or twice")
        covered = response[: do8e.offset]
        expected = suite.mac(self.ks_mac, self.ssc, covered)
        if not hmac.compare_digest(expected, do8e.value):
            self.close()
            raise SecureMessagingError("MAC of the chip's response is wrong (secure messaging)")
        plain_sw = int.from_bytes(do99.value, "big") if len(do99.value) == 2 else -1
        if plain_sw < 0:
            raise SecureMessagingError("status object 99 must hold two bytes")
        return _decrypt(suite, self.ks_enc, self.ssc, objects), plain_sw

    def close(self) -> None:
        """Forget the session keys (after an error or at the end of a read)."""
        self.ks_enc = b""
        self.ks_mac = b""

    @property
    def open(self) -> bool:
        return bool(self.ks_enc)

    def _require_keys(self) -> None:
        if not self.ks_enc:
            raise SecureMessagingError("secure-messaging session is closed")


@dataclass(frozen=True)
class PlainCommand:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None


class CardSmError(Exception):
    """The card rejects a protected command; `sw` is what it answers."""

    def __init__(self, sw: int, reason: str):
        super().__init__(reason)
        self.sw = sw


def split_apdu(apdu: bytes) -> PlainCommand:
    """Decode an ISO 7816-4 command APDU (short or extended); ValueError if malformed."""
    if len(apdu) < 4:
        raise ValueError("APDU shorter than its header")
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if not body:
        return PlainCommand(cla, ins, p1, p2, b"", None)
    if len(body) == 1:
        return PlainCommand(cla, ins, p1, p2, b"", body[0] or 256)
    if body[0] == 0 and len(body) >= 3:  # extended
        if len(body) == 3:
            return PlainCommand(cla, ins, p1, p2, b"", int.from_bytes(body[1:3], "big") or 65536)
        lc = int.from_bytes(body[1:3], "big")
        data = body[3 : 3 + lc]
        rest = body[3 + lc :]
        if len(data) != lc or len(rest) not in (0, 2):
            raise ValueError("extended APDU length fields do not match its size")
        le = (int.from_bytes(rest, "big") or 65536) if rest else None
        return PlainCommand(cla, ins, p1, p2, data, le)
    lc = body[0]
    data = body[1 : 1 + lc]
    rest = body[1 + lc :]
    if len(data) != lc or len(rest) > 1:
        raise ValueError("short APDU length fields do not match its size")
    return PlainCommand(cla, ins, p1, p2, data, (rest[0] or 256) if rest else None)


@dataclass
class CardChannel:
    """The chip's side of a secure-messaging session."""

    ks_enc: bytes
    ks_mac: bytes
    ssc: int
    cipher: str = TDES

    def unwrap(self, apdu: bytes) -> PlainCommand:
        """Verify and decrypt a protected command; CardSmError (6987/6988) otherwise."""
        try:
            command = split_apdu(apdu)
            objects = tlv.parse_all(command.data)
        except (ValueError, SecureMessagingError) as exc:
            raise CardSmError(SW_SM_INCORRECT, f"malformed protected command: {exc}") from exc
        if command.cla & 0x0C != 0x0C:
            raise CardSmError(SW_SM_MISSING, "command is not protected")
        suite = _suite(self.cipher)
        self.ssc = suite.next_ssc(self.ssc)
        by_tag = {item.tag: item for item in objects}
        do8e = by_tag.get(0x8E)
        if do8e is None:
            raise CardSmError(SW_SM_MISSING, "protected command lacks its MAC")
        if objects[-1].tag != 0x8E or len(by_tag) != len(objects):
            raise CardSmError(SW_SM_INCORRECT, "protected command has objects after its MAC")
        header = bytes([command.cla, command.ins, command.p1, command.p2])
        covered = command.data[: do8e.offset]
        mac = suite.mac(self.ks_mac, self.ssc, pad(header, suite.block) + covered)
        if not hmac.compare_digest(mac, do8e.value):
            raise CardSmError(SW_SM_INCORRECT, "command MAC is wrong")
        try:
            data = _decrypt(suite, self.ks_enc, self.ssc, by_tag)
        except SecureMessagingError as exc:
            raise CardSmError(SW_SM_INCORRECT, str(exc)) from exc
        le = None
        if 0x97 in by_tag:
            raw = by_tag[0x97].value
            le = int.from_bytes(raw, "big") or (256 if len(raw) == 1 else 65536)
        cla = command.cla & ~0x0C & 0xFF
        return PlainCommand(cla, command.ins, command.p1, command.p2, data, le)

    def wrap(self, data: bytes, sw: int, *, odd: bool = False, corrupt_mac: bool = False) -> bytes:
        """Protect a response: [87 or, for odd INS, 85] 99 8E, then the plain status word."""
        suite = _suite(self.cipher)
        self.ssc = suite.next_ssc(self.ssc)
        do87 = _cryptogram(suite, self.ks_enc, self.ssc, data, odd=odd) if data else b""
        do99 = tlv.encode(0x99, sw.to_bytes(2, "big"))
        mac = suite.mac(self.ks_mac, self.ssc, do87 + do99)
        if corrupt_mac:
            mac = bytes([mac[0] ^ 0x01]) + mac[1:]
        return do87 + do99 + tlv.encode(0x8E, mac) + sw.to_bytes(2, "big")
