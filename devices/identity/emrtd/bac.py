"""Basic Access Control (ICAO Doc 9303 Part 11 §4.3 and §9.7): keys from the MRZ, mutual auth.

Kseed = SHA-1(MRZ_information)[:16]; Kenc/Kmac = SHA-1(Kseed || counter)[:16] with DES
parity (counter 1 = encryption, 2 = MAC). The terminal sends E.IFD || M.IFD over
RND.IFD || RND.IC || K.IFD; the chip answers E.IC || M.IC over RND.IC || RND.IFD || K.IC.
The session keys come from Kseed = K.IFD xor K.IC and the SSC from the low halves of both
random numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from .errors import AccessDenied, SecureMessagingError, UnsupportedDocument
from .mrz import MrzKey
from .sm import ReaderChannel, adjust_parity, retail_mac, tdes_decrypt, tdes_encrypt

COUNTER_ENC = 1
COUNTER_MAC = 2

Transmit = Callable[[bytes], tuple[bytes, int]]
"""Send one APDU, return (response data, status word)."""


def derive_key(seed: bytes, counter: int) -> bytes:
    """A 16-byte two-key 3DES key from a key seed (Doc 9303 Part 11 §9.7.1)."""
    digest = hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()
    return adjust_parity(digest[:16])


def key_seed(mrz_key: MrzKey) -> bytes:
    """Kseed: the first 16 bytes of SHA-1 over the MRZ information."""
    return hashlib.sha1(mrz_key.key_seed_info().encode("ascii")).digest()[:16]


@dataclass(frozen=True)
class BacKeys:
    """The document basic access keys; repr hides them."""

    k_enc: bytes
    k_mac: bytes

    @classmethod
    def from_mrz(cls, mrz_key: MrzKey) -> BacKeys:
        seed = key_seed(mrz_key)
        return cls(derive_key(seed, COUNTER_ENC), derive_key(seed, COUNTER_MAC))

    def __repr__(self) -> str:
        return "BacKeys(<hidden>)"


def session_keys(
    k_ifd: bytes, k_ic: bytes, rnd_ic: bytes, rnd_ifd: bytes
) -> tuple[bytes, bytes, int]:
    """(KSenc, KSmac, SSC) from both key halves and both challenges."""
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
    ssc = int.from_bytes(rnd_ic[4:8] + rnd_ifd[4:8], "big")
    return derive_key(seed, COUNTER_ENC), derive_key(seed, COUNTER_MAC), ssc


def terminal_cryptogram(keys: BacKeys, rnd_ifd: bytes, rnd_ic: bytes, k_ifd: bytes) -> bytes:
    """E.IFD || M.IFD, the EXTERNAL AUTHENTICATE data."""
    e_ifd = tdes_encrypt(keys.k_enc, rnd_ifd + rnd_ic + k_ifd)
    return e_ifd + retail_mac(keys.k_mac, e_ifd)


GET_CHALLENGE = bytes.fromhex("0084000008")


def mutual_authenticate(
    transmit: Transmit,
    mrz_key: MrzKey,
    *,
    rnd_ifd: bytes | None = None,
    k_ifd: bytes | None = None,
) -> ReaderChannel:
    """Run BAC over `transmit`; returns the secure-messaging channel it establishes."""
    keys = BacKeys.from_mrz(mrz_key)
    rnd_ifd = rnd_ifd or os.urandom(8)
    k_ifd = k_ifd or os.urandom(16)
    rnd_ic, sw = transmit(GET_CHALLENGE)
    if sw != 0x9000 or len(rnd_ic) != 8:
        raise UnsupportedDocument(
            f"GET CHALLENGE answered {sw:04X} with {len(rnd_ic)} bytes: the chip does not "
            "offer Basic Access Control, and its EF.CardAccess offers no PACE this reader runs"
        )
    command = bytes.fromhex("0082000028") + terminal_cryptogram(keys, rnd_ifd, rnd_ic, k_ifd)
    answer, sw = transmit(command + b"\x28")
    if sw != 0x9000:
        # No secure messaging exists yet, so nothing can have disturbed it: whatever status
        # word the chip picks (6300, 6982, 6988, ...), it refused our key.
        raise AccessDenied(
            f"EXTERNAL AUTHENTICATE refused with {sw:04X}: the MRZ key (document number, "
            "birth date, expiry date) does not match this document"
        )
    if len(answer) != 40:
        raise SecureMessagingError(
            f"EXTERNAL AUTHENTICATE answered {len(answer)} bytes, expected 40"
        )
    e_ic, m_ic = answer[:32], answer[32:]
    if not hmac.compare_digest(retail_mac(keys.k_mac, e_ic), m_ic):
        raise SecureMessagingError("the chip's authentication cryptogram has a wrong MAC")
    plain = tdes_decrypt(keys.k_enc, e_ic)
    if plain[:8] != rnd_ic or plain[8:16] != rnd_ifd:
        raise SecureMessagingError("the chip's authentication cryptogram does not echo RND.IFD")
    ks_enc, ks_mac, ssc = session_keys(k_ifd, plain[16:32], rnd_ic, rnd_ifd)
    return ReaderChannel(ks_enc, ks_mac, ssc)
