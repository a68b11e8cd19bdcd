"""Master lists load only when intact, and a document signer is trusted only under a CSCA."""

from __future__ import annotations

import datetime as dt
import functools

import pytest

from devices.identity.emrtd import card_files, sod
from devices.identity.emrtd.issuing_state import CountrySigningCa, master_list
from devices.identity.emrtd.passive import passive_authentication
from devices.identity.emrtd.trust import TrustConfigError, TrustStore, load_master_list

NOW = dt.datetime.now(dt.UTC)
DG1 = card_files.dg1(
    ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
)


@functools.cache
def csca(country: str = "UT", scheme: str = "ecdsa") -> CountrySigningCa:
    return CountrySigningCa.generate(country, scheme)


def store(*cscas: CountrySigningCa, crls: tuple[bytes, ...] = ()) -> TrustStore:
    trusted = TrustStore(load_master_list(master_list(list(cscas))))
    for crl in crls:
        from devices.identity.emrtd.trust import load_crl

        trusted.add_crl(load_crl(crl))
    return trusted


def test_a_master_list_yields_its_cscas():
    certificates = load_master_list(master_list([csca("UT"), csca("ZZ", "rsa-pss")]))
    assert {c.subject.rfc4514_string() for c in certificates} == {
        "CN=allhours test CSCA UT,C=UT",
        "CN=allhours test CSCA ZZ,C=ZZ",
    }


@pytest.mark.parametrize("scheme", ["ecdsa", "rsa-pkcs1", "rsa-pss"])
def test_a_document_signer_under_a_listed_csca_is_trusted(scheme):
    signer = csca("UT", scheme).issue(scheme)
    check = store(csca("ZZ"), csca("UT", scheme)).check_signer(signer.certificate)
    assert check.trusted, check.reason
    assert check.csca == "CN=allhours test CSCA UT,C=UT"


def test_a_signer_of_an_unlisted_csca_is_not_trusted():
    signer = CountrySigningCa.generate("UT").issue()  # same names, another key
    check = store(csca("UT")).check_signer(signer.certificate)
    assert not check.trusted
    assert "does not verify" in check.reason


def test_a_self_made_signer_of_another_state_is_not_trusted():
    check = store(csca("UT")).check_signer(csca("QQ").issue().certificate)
    assert check.reason == "no trusted CSCA issued this document signer"


def test_an_expired_document_signer_is_not_trusted():
    old = csca().issue(valid_from=NOW - dt.timedelta(days=400), valid_until=NOW - dt.timedelta(1))
    check = store(csca()).check_signer(old.certificate)
    assert (check.trusted, check.reason) == (False, "the document signer is not valid now")


def test_a_signer_under_an_expired_csca_is_not_trusted():
    expired = CountrySigningCa.generate(
        "XE", valid_from=NOW - dt.timedelta(days=900), valid_until=NOW - dt.timedelta(days=1)
    )
    signer = expired.issue(valid_from=NOW - dt.timedelta(days=800))
    check = store(expired).check_signer(signer.certificate)
    assert check.reason == "the CSCA certificate is not valid now"


def test_a_revoked_signer_is_not_trusted_and_others_still_are():
    revoked, kept = csca().issue(), csca().issue()
    trusted = store(csca(), crls=(csca().crl([revoked.certificate.serial_number]),))
    assert trusted.check_signer(revoked.certificate).reason == "the document signer is revoked"
    assert trusted.check_signer(kept.certificate).trusted


def test_a_crl_not_signed_by_a_listed_csca_is_refused():
    with pytest.raises(TrustConfigError, match="no CSCA of the master lists signed it"):
        store(csca(), crls=(CountrySigningCa.generate("UT").crl([1]),))


def test_a_master_list_with_a_changed_certificate_is_refused():
    raw = master_list([csca("UT")])
    at = raw.index(b"allhours test CSCA UT")
    forged = raw[:at] + b"allhours test CSCA UX" + raw[at + 21 :]
    with pytest.raises(TrustConfigError, match="messageDigest does not match"):
        load_master_list(forged, "ml.der")


def test_a_master_list_signed_by_an_outsider_is_refused():
    outsider = CountrySigningCa.generate("UT").issue(common_name="ML signer")
    with pytest.raises(TrustConfigError, match="not issued by a CSCA in the list"):
        load_master_list(master_list([csca("UT")], signer=outsider))


def test_an_sod_is_not_taken_for_a_master_list():
    raw = card_files.sod({1: DG1}, csca().issue())[4:]  # strip the 77 wrapper
    with pytest.raises(TrustConfigError, match="not a master list"):
        load_master_list(raw)


def test_files_that_are_missing_or_not_master_lists_are_named(tmp_path):
    junk = tmp_path / "junk.ml"
    junk.write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(TrustConfigError, match=r"junk\.ml"):
        TrustStore.from_files([junk])
    with pytest.raises(TrustConfigError, match=r"absent\.ml: cannot be read"):
        TrustStore.from_files([tmp_path / "absent.ml"])


def test_files_load_master_lists_and_pem_crls(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    signer = csca().issue()
    (tmp_path / "ml.der").write_bytes(master_list([csca()]))
    pem = x509.load_der_x509_crl(csca().crl([signer.certificate.serial_number]))
    (tmp_path / "ut.crl").write_bytes(pem.public_bytes(Encoding.PEM))

    trusted = TrustStore.from_files([tmp_path / "ml.der"], [tmp_path / "ut.crl"])

    assert trusted.check_signer(signer.certificate).reason == "the document signer is revoked"


def test_passive_authentication_reaches_issuer_verified_only_with_the_chain():
    signer = csca().issue("rsa-pss")
    security = sod.parse_sod(card_files.sod({1: DG1}, signer))

    level, report = passive_authentication(security, {1: DG1}, store(csca()))
    assert level == "issuer_verified"
    assert report["chain"]["issuer_verified"] is True

    level, report = passive_authentication(security, {1: DG1}, None)
    assert level == "chip_verified"
    assert report["chain"]["reason"] == "no CSCA master list is configured"
