"""BAC and secure messaging reproduce ICAO Doc 9303 Part 11 Appendix D, value for value."""

from __future__ import annotations

import pytest

from devices.identity.emrtd import bac, sm
from devices.identity.emrtd.errors import AccessDenied, SecureMessagingError
from devices.identity.emrtd.mrz import MrzKey, check_digit
from terminal.flows.identity import card_error_key

H = bytes.fromhex

# Appendix D.2-D.4 (the specimen document L898902C, born 1969-08-06, expiring 1994-06-23).
MRZ_INFO = "L898902C<369080619406236"
K_SEED = H("239AB9CB282DAF66231DC5A4DF6BFBAE")
K_ENC = H("AB94FDECF2674FDFB9B391F85D7F76F2")
K_MAC = H("7962D9ECE03D1ACD4C76089DCE131543")
RND_IC = H("4608F91988702212")
RND_IFD = H("781723860C06C226")
K_IFD = H("0B795240CB7049B01C19B33E32804F0B")
E_IFD = H("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2")
M_IFD = H("5F1448EEA8AD90A7")
CHIP_ANSWER = H("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449")
K_IC = H("0B4F80323EB3191CB04970CB4052790B")
KS_ENC = H("979EC13B1CBFE9DCD01AB0FED307EAE5")
KS_MAC = H("F1CB1F1FB5ADF208806B89DC579DC1F8")
SSC = 0x887022120C06C226
SELECT_EF_COM = H("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
SELECT_ANSWER = H("990290008E08FA855A5D4C50A8ED")
READ_4 = H("0CB000000D9701048E08ED6705417E96BA5500")
READ_4_ANSWER = H("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED")
READ_18 = H("0CB000040D9701128E082EA28A70F3C7B53500")
READ_18_ANSWER = H(
    "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D74"
)
EF_COM = H("60145F0104303130365F36063034303030305C026175")

SPECIMEN = MrzKey(document_number="L898902C", birth_date="690806", expiry_date="940623")


def test_mrz_information_and_check_digits_match_the_specimen():
    assert check_digit("L898902C<") == "3"
    assert SPECIMEN.key_seed_info() == MRZ_INFO


def test_key_seed_and_basic_access_keys_match_appendix_d():
    assert bac.key_seed(SPECIMEN) == K_SEED
    assert bac.derive_key(K_SEED, bac.COUNTER_ENC) == K_ENC
    assert bac.derive_key(K_SEED, bac.COUNTER_MAC) == K_MAC
    assert bac.BacKeys.from_mrz(SPECIMEN) == bac.BacKeys(K_ENC, K_MAC)


def test_terminal_cryptogram_matches_appendix_d():
    keys = bac.BacKeys(K_ENC, K_MAC)
    assert bac.terminal_cryptogram(keys, RND_IFD, RND_IC, K_IFD) == E_IFD + M_IFD
    assert sm.retail_mac(K_MAC, E_IFD) == M_IFD


def test_session_keys_and_ssc_match_appendix_d():
    ks_enc, ks_mac, ssc = bac.session_keys(K_IFD, K_IC, RND_IC, RND_IFD)
    assert (ks_enc, ks_mac, ssc) == (KS_ENC, KS_MAC, SSC)


class WorkedExampleChip:
    """Answers exactly what the appendix's chip answers, and records what it was sent."""

    def __init__(self, answers: dict[bytes, tuple[bytes, int]]):
        self.answers = answers
        self.sent: list[bytes] = []

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu)
        return self.answers.get(apdu, (b"", 0x6D00))


def test_mutual_authentication_sends_appendix_d_bytes_and_yields_its_session():
    external_auth = H("0082000028") + E_IFD + M_IFD + H("28")
    chip = WorkedExampleChip(
        {bac.GET_CHALLENGE: (RND_IC, 0x9000), external_auth: (CHIP_ANSWER, 0x9000)}
    )
    channel = bac.mutual_authenticate(chip.transmit, SPECIMEN, rnd_ifd=RND_IFD, k_ifd=K_IFD)
    assert chip.sent == [bac.GET_CHALLENGE, external_auth]
    assert (channel.ks_enc, channel.ks_mac, channel.ssc) == (KS_ENC, KS_MAC, SSC)


def test_protected_select_and_reads_of_ef_com_match_appendix_d():
    channel = sm.ReaderChannel(KS_ENC, KS_MAC, SSC)
    assert channel.protect(0x00, 0xA4, 0x02, 0x0C, H("011E")) == SELECT_EF_COM
    assert channel.unprotect(SELECT_ANSWER, 0x9000) == (b"", 0x9000)
    assert channel.protect(0x00, 0xB0, 0x00, 0x00, le=4) == READ_4
    assert channel.unprotect(READ_4_ANSWER, 0x9000) == (H("60145F01"), 0x9000)
    assert channel.protect(0x00, 0xB0, 0x00, 0x04, le=0x12) == READ_18
    data, sw = channel.unprotect(READ_18_ANSWER, 0x9000)
    assert (H("60145F01") + data, sw) == (EF_COM, 0x9000)


def test_card_side_unwraps_and_answers_the_worked_example_bytes():
    card = sm.CardChannel(KS_ENC, KS_MAC, SSC)
    command = card.unwrap(SELECT_EF_COM)
    assert (command.ins, command.p1, command.p2, command.data) == (0xA4, 2, 0x0C, H("011E"))
    assert card.wrap(b"", 0x9000) == SELECT_ANSWER + H("9000")
    command = card.unwrap(READ_4)
    assert (command.ins, command.le) == (0xB0, 4)
    assert card.wrap(H("60145F01"), 0x9000) == READ_4_ANSWER + H("9000")


def test_a_response_with_a_flipped_mac_bit_is_refused_and_the_keys_are_dropped():
    channel = sm.ReaderChannel(KS_ENC, KS_MAC, SSC)
    channel.protect(0x00, 0xA4, 0x02, 0x0C, H("011E"))
    broken = SELECT_ANSWER[:-1] + bytes([SELECT_ANSWER[-1] ^ 1])
    with pytest.raises(SecureMessagingError, match="MAC"):
        channel.unprotect(broken, 0x9000)
    assert not channel.open


@pytest.mark.parametrize("sw", [0x6300, 0x6982, 0x6985, 0x6A80, 0x6988, 0x6987, 0x6F00])
def test_chip_refusing_external_authenticate_is_access_denied_whatever_its_status(sw):
    chip = WorkedExampleChip({bac.GET_CHALLENGE: (RND_IC, 0x9000)})
    refusing = lambda apdu: chip.answers.get(apdu, (b"", sw))  # noqa: E731
    with pytest.raises(AccessDenied) as caught:
        bac.mutual_authenticate(refusing, SPECIMEN)
    assert f"{sw:04X}" in str(caught.value)
    assert card_error_key(caught.value) == "card.error.AccessDenied"


def test_a_response_with_an_object_after_its_mac_is_refused():
    # Data after DO'8E' is not covered by the MAC: a chip (or an eavesdropper on the field)
    # could append a DO'87' that would otherwise replace the authenticated one.
    channel = sm.ReaderChannel(KS_ENC, KS_MAC, SSC)
    channel.protect(0x00, 0xA4, 0x02, 0x0C, H("011E"))
    with pytest.raises(SecureMessagingError, match="after its MAC"):
        channel.unprotect(SELECT_ANSWER + H("8709011122334455667788"), 0x9000)
    assert not channel.open
