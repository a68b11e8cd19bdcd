"""A virtual eMRTD chip: the LDS applet with BAC and secure messaging, answering raw APDUs.

It holds EF.COM, DG1, DG2 and a signed EF.SOD built from an MRZ and a real photo, and
answers the commands a BAC reader sends (SELECT, GET CHALLENGE, EXTERNAL AUTHENTICATE,
READ BINARY with short or extended Le, by file or short EF identifier). `CardFaults` makes it
misbehave the ways real documents do. Connect it to pcscd with `vpcd.VpcdCardLink`, or call
`process()` directly.
"""

from __future__ import annotations

import hmac
import io
import os
import threading
from dataclasses import dataclass

from . import card_files, tlv
from .bac import BacKeys, session_keys
from .lds import AID, DG1, DG2, DG14, DG15, EF_COM, EF_SOD
from .mrz import parse_mrz
from .sm import CardChannel, CardSmError, retail_mac, split_apdu, tdes_decrypt, tdes_encrypt
from .virtual_active_auth import VirtualActiveAuthentication
from .virtual_chip_auth import VirtualChipAuthentication
from .virtual_chip_auth import dg14 as virtual_dg14
from .virtual_pace import VirtualPace, card_access

LDS_FILES = {1: DG1, 2: DG2, 14: DG14, 15: DG15}
CARD_ACCESS_FID = 0x011C  # EF.CardAccess in the master file

# T=1 card whose historical bytes announce extended Lc/Le (card capabilities 73 00 00 40).
_ATR_BODY = bytes.fromhex("3B8580018073000040")

SW_OK = 0x9000
SW_END_OF_FILE = 0x6282
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_AUTH_FAILED = 0x6300
SW_CONDITIONS = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_NOT_FOUND = 0x6A82
SW_WRONG_OFFSET = 0x6B00
SW_INS = 0x6D00
SW_CLA = 0x6E00


def _tck(body: bytes) -> int:
    check = 0
    for byte in body[1:]:
        check ^= byte
    return check


ATR = _ATR_BODY + bytes([_tck(_ATR_BODY)])


class CardPulled(Exception):
    """The card left the reader's field (a configured fault)."""


@dataclass(frozen=True)
class CardFaults:
    """Ways the virtual card misbehaves, as real documents and readers do."""

    wrong_response_mac: bool = False  # every secure-messaging response carries a bad MAC
    pull_after_apdus: int | None = None  # the card leaves the field at this APDU
    corrupt_tlv: str | None = None  # "EF.COM" | "DG1" | "DG2" | "EF.SOD": a lying inner length
    tamper_data_group: int | None = None  # DG1 or DG2 altered after EF.SOD was signed
    sod_hash_algorithm: str = "sha256"  # "sm3": hashes labelled with an unsupported algorithm
    wrong_key_sw: int = SW_AUTH_FAILED  # how the chip refuses a wrong MRZ key (6300, 6988, ...)
    cloned_chip: bool = False  # same files, another Chip Authentication private key
    hide_dg14: bool = False  # a clone's downgrade: DG14 left out of EF.COM and the chip
    hide_dg15: bool = False  # the same for Active Authentication's DG15
    no_sod: bool = False  # a forger's chip: no EF.SOD at all (nothing signs its data groups)
    # An ECDSA DG15 key without the ActiveAuthenticationInfo DG14 must carry: the chip offers
    # Active Authentication that no reader can check ("not run").
    no_aa_info: bool = False


def _image_size(photo: bytes) -> tuple[int, int]:
    from PIL import Image  # only to fill the 19794-5 width and height fields

    with Image.open(io.BytesIO(photo)) as image:
        return image.size


class VirtualEmrtd:
    """The chip of a passport built from `mrz` and `photo` (JPEG or JPEG 2000 bytes)."""

    def __init__(
        self,
        mrz: str,
        photo: bytes,
        *,
        photo_format: str = "jpeg",
        faults: CardFaults | None = None,
        signer: card_files.DocumentSigner | None = None,
        chip_authentication: str | None = None,
        active_authentication: str | None = None,
        pace: str | None = None,
        pace_parameters: int = 13,
    ):
        if photo_format not in card_files.IMAGE_DATA_TYPES:
            raise ValueError(f"photo_format must be 'jpeg' or 'jp2', not {photo_format!r}")
        self.faults = faults or CardFaults()
        parsed = parse_mrz(mrz)
        self._keys = BacKeys.from_mrz(parsed.key)
        lines = [line.strip() for line in mrz.strip().splitlines() if line.strip()]
        width, height = _image_size(photo)
        dg1 = card_files.dg1(lines)
        dg2 = card_files.dg2(photo, photo_format, width, height)
        groups = {1: dg1, 2: dg2}
        self._chip_auth: VirtualChipAuthentication | None = None
        self._active_auth: VirtualActiveAuthentication | None = None
        security_infos: list[bytes] = []
        if chip_authentication is not None:
            self._chip_auth = VirtualChipAuthentication(
                chip_authentication, cloned=self.faults.cloned_chip
            )
            security_infos += self._chip_auth.security_infos()
        if active_authentication is not None:
            self._active_auth = VirtualActiveAuthentication(
                active_authentication, cloned=self.faults.cloned_chip
            )
            groups[15] = self._active_auth.dg15()
            if not self.faults.no_aa_info:
                security_infos += filter(None, [self._active_auth.security_info()])
        if security_infos:
            groups[14] = virtual_dg14(security_infos)
        sod = card_files.sod(
            groups,
            signer or card_files.DocumentSigner.generate(parsed.issuing_state[:2] or "UT"),
            self.faults.sod_hash_algorithm,
        )
        if self.faults.hide_dg14:
            groups.pop(14, None)
        if self.faults.hide_dg15:
            groups.pop(15, None)
        files = {EF_COM.fid: card_files.ef_com(tuple(groups)), EF_SOD.fid: sod}
        if self.faults.no_sod:
            del files[EF_SOD.fid]
        files.update({LDS_FILES[n].fid: content for n, content in groups.items()})
        tampered = self.faults.tamper_data_group
        if tampered == 1:
            files[DG1.fid] = _tamper_name(dg1)
        elif tampered == 2:
            middle = len(dg2) // 2
            files[DG2.fid] = dg2[:middle] + bytes([dg2[middle] ^ 0xFF]) + dg2[middle + 1 :]
        by_name = {f.name: f.fid for f in (EF_COM, DG1, DG2, EF_SOD)}
        if self.faults.corrupt_tlv:
            fid = by_name[self.faults.corrupt_tlv]
            files[fid] = card_files.corrupt_first_inner_length(files[fid])
        self._pace: VirtualPace | None = None
        if pace is not None:
            if pace not in ("also", "only"):
                raise ValueError("pace must be None, 'also' (with BAC) or 'only' (no BAC)")
            self._pace = VirtualPace(parsed.key, pace_parameters)
            files[CARD_ACCESS_FID] = card_access(pace_parameters)
        self.bac = pace != "only"
        self._files = files
        self._short_ids = {0x1E: EF_COM.fid, 0x1D: EF_SOD.fid, 0x01: DG1.fid, 0x02: DG2.fid}
        self._short_ids.update({0x0E: DG14.fid, 0x0F: DG15.fid})
        self._lock = threading.Lock()
        self.apdu_count = 0
        self.transcript: list[tuple[int, int]] = []  # (INS, SW) of each command; no data
        self._reset_state()

    @property
    def atr(self) -> bytes:
        return ATR

    @property
    def files(self) -> dict[int, bytes]:
        """The files as served (after any tampering fault), by file identifier."""
        return dict(self._files)

    def power_on(self) -> None:
        self._reset_state()

    def power_off(self) -> None:
        self._reset_state()

    def reset(self) -> None:
        self._reset_state()

    def _reset_state(self) -> None:
        self._applet = False
        self._rnd_ic: bytes | None = None
        self._channel: CardChannel | None = None
        self._current: int | None = None
        for protocol in (getattr(self, "_chip_auth", None), getattr(self, "_pace", None)):
            if protocol is not None:
                protocol.reset()

    @property
    def authenticated(self) -> bool:
        return self._channel is not None

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with a response APDU (data + SW1 SW2)."""
        with self._lock:
            self.apdu_count += 1
            limit = self.faults.pull_after_apdus
            if limit is not None and self.apdu_count >= limit:
                raise CardPulled(f"card pulled at APDU {self.apdu_count}")
            response = self._process(apdu)
            self.transcript.append((apdu[1] if len(apdu) > 1 else 0, _sw(response)))
            return response

    def _process(self, apdu: bytes) -> bytes:
        try:
            command = split_apdu(apdu)
        except ValueError:
            return _status(SW_WRONG_LENGTH)
        if command.cla & 0x0C == 0x0C:
            if self._channel is None:
                return _status(SW_CONDITIONS)
            try:
                inner = self._channel.unwrap(apdu)
            except CardSmError as exc:
                self._channel = None  # ICAO: an SM error ends the session
                return _status(exc.sw)
            next_channel = None
            if inner.ins == 0x88 and self._active_auth is not None:
                data, sw = self._active_auth.internal_authenticate(inner.data)
            elif inner.ins in (0x22, 0x86) and self._chip_auth is not None:
                data, sw, next_channel = self._chip_auth.execute(
                    inner.ins, inner.p1, inner.p2, inner.data
                )
            else:
                data, sw = self._execute(inner.ins, inner.p1, inner.p2, inner.data, inner.le)
            response = self._channel.wrap(
                data, sw, odd=bool(inner.ins & 1), corrupt_mac=self.faults.wrong_response_mac
            )
            if next_channel is not None:  # Chip Authentication: the reply went under old keys
                self._channel = next_channel
            return response
        chained_ga = command.cla == 0x10 and command.ins == 0x86  # PACE chains its steps
        if command.cla != 0x00 and not chained_ga:
            return _status(SW_CLA)
        if self._channel is not None:
            self._channel = None  # a plain command aborts secure messaging
        if command.ins == 0xA4 and command.p1 == 0x04:
            return _status(*self._execute(0xA4, 4, command.p2, command.data, command.le)[1:])
        if command.ins in (0x22, 0x86) and self._pace is not None:
            data, sw, channel = self._pace.execute(
                command.ins, command.p1, command.p2, command.data
            )
            self._channel = channel
            return data + sw.to_bytes(2, "big")
        if command.ins in (0x84, 0x82) and not self.bac:
            return _status(SW_SECURITY)  # a PACE-only chip refuses Basic Access Control
        if command.ins == 0x84:
            return self._get_challenge(command.le)
        if command.ins == 0x82:
            return self._external_authenticate(command.data)
        if self._public_file(command):  # EF.CardAccess, readable before any access control
            data, sw = self._execute(command.ins, command.p1, command.p2, command.data, command.le)
            return data + sw.to_bytes(2, "big")
        if command.ins in (0xA4, 0xB0):
            return _status(SW_SECURITY)
        return _status(SW_INS)

    def _public_file(self, command) -> bool:
        if CARD_ACCESS_FID not in self._files:
            return False
        if command.ins == 0xA4 and command.p1 == 0x02:
            return command.data == CARD_ACCESS_FID.to_bytes(2, "big")
        return command.ins == 0xB0 and self._current == CARD_ACCESS_FID and not command.p1 & 0x80

    def _get_challenge(self, le: int | None) -> bytes:
        if not self._applet:
            return _status(SW_CONDITIONS)
        if le != 8:
            return _status(SW_WRONG_LENGTH)
        self._rnd_ic = os.urandom(8)
        return self._rnd_ic + SW_OK.to_bytes(2, "big")

    def _external_authenticate(self, data: bytes) -> bytes:
        rnd_ic, self._rnd_ic = self._rnd_ic, None  # one challenge, one try
        if rnd_ic is None:
            return _status(SW_CONDITIONS)
        if len(data) != 40:
            return _status(SW_WRONG_LENGTH)
        e_ifd, m_ifd = data[:32], data[32:]
        if not hmac.compare_digest(retail_mac(self._keys.k_mac, e_ifd), m_ifd):
            return _status(self.faults.wrong_key_sw)
        plain = tdes_decrypt(self._keys.k_enc, e_ifd)
        rnd_ifd, echoed, k_ifd = plain[:8], plain[8:16], plain[16:32]
        if echoed != rnd_ic:
            return _status(self.faults.wrong_key_sw)
        k_ic = os.urandom(16)
        e_ic = tdes_encrypt(self._keys.k_enc, rnd_ic + rnd_ifd + k_ic)
        ks_enc, ks_mac, ssc = session_keys(k_ifd, k_ic, rnd_ic, rnd_ifd)
        self._channel = CardChannel(ks_enc, ks_mac, ssc)
        return e_ic + retail_mac(self._keys.k_mac, e_ic) + SW_OK.to_bytes(2, "big")

    def _execute(
        self, ins: int, p1: int, p2: int, data: bytes, le: int | None
    ) -> tuple[bytes, int]:
        if ins == 0xA4:
            if p1 == 0x04:
                self._applet = data == AID
                self._current = None
                return b"", SW_OK if self._applet else SW_NOT_FOUND
            if p1 == 0x02 and len(data) == 2:
                fid = int.from_bytes(data, "big")
                if fid not in self._files:
                    return b"", SW_NOT_FOUND
                self._current = fid
                return b"", SW_OK
            return b"", SW_NOT_FOUND
        if ins == 0xB0:
            if p1 & 0x80:
                fid = self._short_ids.get(p1 & 0x1F)
                if fid is None:
                    return b"", SW_NOT_FOUND
                self._current, offset = fid, p2
            else:
                offset = ((p1 & 0x7F) << 8) | p2
            if self._current is None:
                return b"", SW_NO_CURRENT_EF
            content = self._files[self._current]
            if offset > len(content):
                return b"", SW_WRONG_OFFSET
            chunk = content[offset : offset + (le or 256)]
            return chunk, SW_OK if len(chunk) == (le or 256) else SW_END_OF_FILE
        if ins == 0xB1:  # offset in DO'54', data returned in DO'53' (files past 32 KiB)
            return self._read_binary_odd(data, le or 256)
        return b"", SW_INS

    def _read_binary_odd(self, data: bytes, le: int) -> tuple[bytes, int]:
        try:
            offset_do = tlv.parse_single(data, 0x54)
        except tlv.TlvError:
            return b"", SW_WRONG_LENGTH
        if self._current is None:
            return b"", SW_NO_CURRENT_EF
        content = self._files[self._current]
        offset = int.from_bytes(offset_do.value, "big")
        if offset > len(content):
            return b"", SW_WRONG_OFFSET
        room = le - 4  # DO'53' header: tag, 82, two length bytes
        chunk = content[offset : offset + room]
        return tlv.encode(0x53, chunk), SW_OK if len(chunk) == room else SW_END_OF_FILE


class DirectConnection:
    """The card behind pyscard's connection API, without PC/SC: for baselines and unit tests."""

    def __init__(self, card: VirtualEmrtd):
        self.card = card
        card.power_on()

    def getATR(self) -> list[int]:  # pyscard spells it so
        return list(self.card.atr)

    def transmit(self, apdu: list[int]) -> tuple[list[int], int, int]:
        try:
            response = self.card.process(bytes(apdu))
        except CardPulled as exc:
            from smartcard.Exceptions import CardConnectionException

            raise CardConnectionException(f"card removed: {exc}") from exc
        return list(response[:-2]), response[-2], response[-1]

    def disconnect(self) -> None:
        self.card.power_off()

    def release(self) -> None:
        pass


def _status(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


def _sw(response: bytes) -> int:
    return int.from_bytes(response[-2:], "big")


def _tamper_name(dg1: bytes) -> bytes:
    """Change one letter of the holder's name: no MRZ check digit covers it, only EF.SOD."""
    mrz = tlv.parse_single(dg1, 0x61).child(0x5F1F).value
    position = mrz.index(b"<<") - 1 if b"<<" in mrz[5:] else 5
    swapped = b"Q" if mrz[position : position + 1] != b"Q" else b"Z"
    mrz = mrz[:position] + swapped + mrz[position + 1 :]
    return tlv.encode(0x61, tlv.encode(0x5F1F, mrz))
