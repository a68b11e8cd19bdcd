"""The driver against the emulated reader over a real pty: reads, faults and recovery."""

from __future__ import annotations

import os
import random
import threading
from datetime import date

import pytest
from cnid_support import CITIZEN_NUMBER, citizen_card, id_number

from devices.identity.cnid import (
    CardAuthFailed,
    CardNotFound,
    CardReadFailed,
    CardSelectFailed,
    CnIdReader,
    CnIdReadError,
    InvalidCardData,
    ReaderFault,
    ReaderFrameError,
    ReaderTimeout,
    SamFault,
    WrongCardType,
)
from devices.identity.cnid.emulator import CnIdReaderEmulator, answer
from devices.identity.cnid.frames import Command
from devices.identity.cnid.wlt import image_format, load_wlt_decoder
from devices.identity.port import IdentityReadError, NoDocument
from terminal.flows.identity import card_error_key

FIND, SELECT, READ, STATUS = (0x20, 0x01), (0x20, 0x02), (0x30, 0x01), (0x11, 0xFF)


def test_a_card_is_read_end_to_end_with_every_field(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    doc = reader.read(2.0)
    assert doc.document_type == "cn_resident_id"
    assert doc.name == "李华"
    assert doc.number == CITIZEN_NUMBER
    assert doc.sex == "M"
    assert doc.nationality == "壮"
    assert doc.birth_date == date(1987, 6, 15)
    assert doc.address == "广东省深圳市南山区科技园路1号"
    assert doc.issuer == "深圳市公安局南山分局"
    assert doc.valid_from == date(2018, 5, 20)
    assert doc.expiry_date == date(2038, 5, 20)
    assert doc.authenticity == "chip_verified"
    assert doc.photo is None  # no WLT decoder installed
    # The driver checked the SAM, then found, selected and read: nothing else on the line.
    assert emulator.received == [STATUS, FIND, SELECT, READ]


def test_with_a_decoder_plugin_the_photo_is_the_decoded_image(
    emulator: CnIdReaderEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "../../unit/identity_cnid"))
    decoder = load_wlt_decoder("cnid_wlt_plugin:GreyPngDecoder")
    with CnIdReader(emulator.device, timeout_s=2.0, photo_decoder=decoder) as reader:
        doc = reader.read(2.0)
    assert doc.photo is not None and image_format(doc.photo) == "png"
    assert doc.photo == decoder.decode(citizen_card().wlt)


def test_a_failing_decoder_leaves_the_photo_empty_but_the_read_succeeds(
    emulator: CnIdReaderEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(__file__), "../../unit/identity_cnid"))
    decoder = load_wlt_decoder("cnid_wlt_plugin:BrokenDecoder")
    with CnIdReader(emulator.device, timeout_s=2.0, photo_decoder=decoder) as reader:
        doc = reader.read(2.0)
        assert doc.photo is None and doc.number == CITIZEN_NUMBER
        assert "vendor library returned -4" in str(reader.diagnostics()["last_photo_error"])


def test_no_card_is_no_document_after_the_timeout(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    emulator.remove_card()
    with pytest.raises(NoDocument) as info:
        reader.read(0.3)
    assert isinstance(info.value, CardNotFound)
    assert card_error_key(info.value) == "card.error.NoDocument"
    assert emulator.received.count(FIND) >= 2  # it kept polling until the deadline


def test_a_card_is_read_once_per_placement(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    reader.read(1.0)
    with pytest.raises(CardNotFound):
        reader.read(0.2)
    emulator.place_card(citizen_card())
    assert reader.read(1.0).number == CITIZEN_NUMBER


def _read_in_thread(reader: CnIdReader, timeout_s: float) -> BaseException | None:
    """Run a read that must end on its own; a hang fails the test instead of the suite."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            reader.read(timeout_s)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=run, name="cnid-read-under-test")
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "the read did not return: a timeout must be bounded"
    return outcome[0]


@pytest.mark.parametrize(
    ("fault", "on", "error", "status"),
    [
        ("no_answer", None, ReaderTimeout, None),
        ("no_answer", Command.READ_BASE, ReaderTimeout, None),
        ("bad_checksum", None, ReaderFrameError, None),
        ("bad_checksum", Command.READ_BASE, ReaderFrameError, None),
        ("card_auth_failed", None, CardAuthFailed, "00 00 31"),
        ("removed_before_read", None, CardReadFailed, "00 00 41"),
        ("sam_not_authorised", None, SamFault, "00 00 66"),
    ],
)
def test_each_fault_gives_its_error_and_the_next_citizen_is_served(
    emulator: CnIdReaderEmulator,
    reader: CnIdReader,
    fault: str,
    on: Command | None,
    error: type[CnIdReadError],
    status: str | None,
) -> None:
    reader.timeout_s = 0.3  # how long a silent SAM is waited for
    emulator.set_fault(fault, on=on)
    exc = _read_in_thread(reader, 1.0)
    reader.timeout_s = 2.0
    assert isinstance(exc, error), exc
    assert exc.status == status
    assert card_error_key(exc) != "card.error.unreadable" and CITIZEN_NUMBER not in str(exc)
    emulator.set_fault(None)
    emulator.place_card(citizen_card())
    assert reader.read(1.0).number == CITIZEN_NUMBER


def test_reader_faults_tell_the_citizen_to_get_help(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    reader.timeout_s = 0.3
    emulator.set_fault("no_answer")
    with pytest.raises(ReaderFault) as info:
        reader.read(1.0)
    assert card_error_key(info.value) == "card.error.ReaderFault"
    assert "find card (20 01)" in str(info.value) or "sam status (11 FF)" in str(info.value)


def test_line_noise_before_the_preamble_is_skipped(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    emulator.set_fault("garbage_before_preamble")
    assert reader.read(1.0).name == "李华"


def test_a_card_with_a_bad_check_digit_is_refused_clearly(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    good = id_number("11010119900307803")
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    emulator.place_card(citizen_card(number=bad))
    with pytest.raises(InvalidCardData) as info:
        reader.read(1.0)
    assert "check digit" in str(info.value)
    assert bad not in str(info.value) and "李华" not in str(info.value)
    assert card_error_key(info.value) == "card.error.InvalidCardData"
    emulator.place_card(citizen_card())
    assert reader.read(1.0).number == CITIZEN_NUMBER


def test_a_foreigner_card_is_the_wrong_card_type(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    emulator.place_card(citizen_card(reserved=" " * 14 + "I"))
    with pytest.raises(WrongCardType, match="foreign"):
        reader.read(1.0)


@pytest.mark.parametrize(
    ("sw3", "on", "error"),
    [
        (0x80, FIND, CardNotFound),
        (0x81, SELECT, CardSelectFailed),
        (0x41, READ, CardReadFailed),
        (0x47, READ, CardReadFailed),
        (0x31, READ, CardAuthFailed),
        (0x32, READ, CardAuthFailed),
        (0x33, READ, CardAuthFailed),
        (0x40, READ, WrongCardType),
        (0x10, FIND, SamFault),
        (0x11, SELECT, SamFault),
        (0x21, READ, SamFault),
        (0x23, READ, SamFault),
        (0x24, READ, SamFault),
        (0x60, STATUS, SamFault),
        (0x66, STATUS, SamFault),
        (0x55, READ, SamFault),  # undocumented
    ],
)
def test_every_sam_status_maps_to_its_error(
    emulator: CnIdReaderEmulator,
    reader: CnIdReader,
    sw3: int,
    on: tuple[int, int],
    error: type[CnIdReadError],
) -> None:
    good = {STATUS: answer(0x90), FIND: answer(0x9F, bytes(4)), SELECT: answer(0x90, bytes(8))}
    emulator.set_raw_answer(lambda cmd: answer(sw3) if cmd == on else good.get(cmd, answer(0x90)))
    with pytest.raises(error) as info:
        reader.read(0.05)
    assert info.value.status == f"00 00 {sw3:02X}"
    assert f"00 00 {sw3:02X}" in str(info.value)


def test_inconsistent_length_fields_inside_the_read_answer_are_a_frame_error(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    good = {STATUS: answer(0x90), FIND: answer(0x9F, bytes(4)), SELECT: answer(0x90, bytes(8))}
    bad_read = answer(0x90, b"\x01\x00\x04\x00" + bytes(300))
    emulator.set_raw_answer(lambda cmd: good.get(cmd, bad_read))
    with pytest.raises(ReaderFrameError, match="do not add up"):
        reader.read(1.0)


def test_random_garbage_and_truncated_frames_only_raise_read_errors(
    emulator: CnIdReaderEmulator,
) -> None:
    rng = random.Random(2013)
    good = {STATUS: answer(0x90), FIND: answer(0x9F, bytes(4)), SELECT: answer(0x90, bytes(8))}
    real_read = citizen_card()

    def chaos(cmd: tuple[int, int]) -> bytes:
        kind = rng.randrange(10)  # 4 in 10 answers are left intact
        frame = good.get(cmd) or answer(0x90, b"\x01\x00\x04\x00" + real_read.text + real_read.wlt)
        if kind == 0:  # pure noise
            return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        if kind == 1:  # truncated
            return frame[: rng.randrange(1, len(frame))]
        if kind == 2:  # one bit flipped
            i = rng.randrange(len(frame))
            return frame[:i] + bytes((frame[i] ^ (1 << rng.randrange(8)),)) + frame[i + 1 :]
        if kind == 3:  # noise, then a well-formed frame
            return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16))) + frame
        return frame

    emulator.set_raw_answer(chaos)
    outcomes: dict[str, int] = {}
    with CnIdReader(emulator.device, timeout_s=0.05) as reader:
        for _ in range(60):
            try:
                reader.read(0.05)
                outcomes["read"] = outcomes.get("read", 0) + 1
            except IdentityReadError as exc:
                outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
        emulator.set_raw_answer(None)
        emulator.place_card(citizen_card())
        reader.timeout_s = 2.0
        assert reader.read(1.0).number == CITIZEN_NUMBER  # and it recovers afterwards
    assert sum(outcomes.values()) == 60
    assert {"ReaderTimeout", "ReaderFrameError"} <= outcomes.keys(), outcomes


def test_diagnostics_probe_the_sam_and_count_faults(
    emulator: CnIdReaderEmulator, reader: CnIdReader
) -> None:
    reader.read(1.0)
    emulator.set_fault("card_auth_failed")
    emulator.place_card(citizen_card())
    with pytest.raises(CardAuthFailed):
        reader.read(1.0)
    facts = reader.diagnostics()
    assert facts["sam_status"] == "00 00 90"
    assert facts["sam_id"] == CnIdReaderEmulator.SAM_ID.hex()
    assert facts["reads"] == 2 and facts["faults"] == 1
    assert "00 00 31" in str(facts["last_error"])
    assert CITIZEN_NUMBER not in repr(facts) and "李华" not in repr(facts)


def test_reset_sam_sends_10_ff(emulator: CnIdReaderEmulator, reader: CnIdReader) -> None:
    reader.reset_sam()
    assert emulator.received[-1] == (0x10, 0xFF)


def test_a_missing_port_is_a_reader_fault() -> None:
    with pytest.raises(ReaderFault, match="cannot open serial port"):
        CnIdReader("/dev/does-not-exist-cnid", timeout_s=0.1).read(0.1)


def test_the_emulator_answers_bad_commands_as_a_sam_does(emulator: CnIdReaderEmulator) -> None:
    import serial

    from devices.identity.cnid.frames import decode_response_body, encode_frame

    with serial.Serial(emulator.device, 115200, timeout=1) as port:
        frame = bytearray(encode_frame(bytes((0x20, 0x01))))
        frame[-1] ^= 0xFF
        port.write(bytes(frame))
        assert port.read(11) == answer(0x10)
        port.write(encode_frame(bytes((0x77, 0x01))))
        assert decode_response_body(port.read(11)[5:]).sw3 == 0x21
    assert emulator.received[-2:] == ["bad checksum", (0x77, 0x01)]


def test_emulator_and_driver_leave_no_descriptor_open() -> None:
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(3):
        emu = CnIdReaderEmulator(citizen_card()).start()
        with CnIdReader(emu.device, timeout_s=2.0) as reader:
            reader.read(1.0)
        emu.stop()
    assert set(os.listdir("/proc/self/fd")) == before
