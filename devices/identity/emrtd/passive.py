"""Passive authentication (Doc 9303-11 §5.1): data-group hashes, SOD signature, signer chain.

The levels a read reaches, lowest first: "chip_read" (no EF.SOD, or its signature could not
be checked), "chip_verified" (every read data group matches EF.SOD and the document signer's
signature holds: the data is intact) and "issuer_verified" (that signer also chains to a
trusted CSCA from a configured master list: a state issued it). A data group that differs
from its hash, or a signature that does not verify, is `PassportNotVerified`. The kiosk takes
a passport as identity only at "issuer_verified" (terminal.flows.identity): the lower levels
are reported, not accepted.
"""

from __future__ import annotations

from typing import Any

from . import sod
from .trust import TrustStore

NO_TRUST = TrustStore(())


def passive_authentication(
    security: sod.SecurityObject, groups: dict[int, bytes], trust: TrustStore | None
) -> tuple[str, dict[str, Any]]:
    """(authenticity, SOD report) for the data groups read; CorruptData when anything lies."""
    checked = sod.verify_hashes(security, groups)
    signature = sod.verify_signature(security)
    report: dict[str, Any] = {
        "hash_algorithm": security.hash_algorithm,
        "verified_data_groups": checked,
        "signature": signature.summary,
        "signature_algorithm": signature.algorithm,
    }
    if not signature.valid:
        # Hashes that match an unsigned (or unverifiable) SOD prove nothing.
        report["chain"] = {"issuer_verified": False, "reason": "signature not verified"}
        return "chip_read", report
    certificate = security.signer_certificate()
    if certificate is None:  # cannot happen after a valid signature; never trust by default
        return "chip_read", report
    chain = (trust or NO_TRUST).check_signer(certificate)
    report["chain"] = chain.report()
    return ("issuer_verified" if chain.trusted else "chip_verified"), report
