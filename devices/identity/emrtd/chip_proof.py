"""Proof that the chip is the one the state made: Chip Authentication, else Active Authentication.

Both bind a key pair to the chip. The public key sits in a data group (DG14 or DG15) that
EF.SOD signs, and the private key never leaves the chip, so a copy made from the readable
files cannot pass. Chip Authentication goes first (it also re-keys secure messaging). Active
Authentication runs when the chip offers only that. A data group that EF.SOD covers but the
chip left out of EF.COM is treated as a failed proof: hiding it is how a copy would skip it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import lds, sod
from .active_auth import active_authenticate
from .card_session import CardSession, timed
from .chip_auth import chip_authenticate, choose_offer
from .errors import ChipAuthenticationFailed, CorruptData, SecureMessagingError
from .security_infos import ChipAuthenticationInfo, SecurityInfo, parse_security_infos


def prove_genuine(
    session: CardSession,
    listed: tuple[int, ...],
    read: Callable[[lds.LdsFile], None],
    files: dict[str, bytes],
) -> None:
    """Run the proof the chip offers, then read DG1 (the first answer under CA's keys)."""
    report: dict[str, Any] = session.report
    infos: list[SecurityInfo] = []
    passed_ca = False
    if 14 in listed:
        read(lds.DG14)
        if "DG14" not in files:
            raise CorruptData("EF.COM lists DG14 but the chip has none")
        infos = parse_security_infos(files["DG14"], lds.DG14.tag)
        with timed(report, "chip_authentication"):
            offer = choose_offer(infos)
            if not any(isinstance(i, ChipAuthenticationInfo) for i in infos):
                report["chip_authentication"] = "not offered"  # DG14 only for AA's algorithm
            elif isinstance(offer, str):
                report["chip_authentication"] = f"not run: {offer}"
            else:
                session.channel = chip_authenticate(session, offer)
                report["chip_authentication"] = f"passed ({offer.name})"
                passed_ca = True
    else:
        report["chip_authentication"] = "not offered"
    if passed_ca:
        report["active_authentication"] = "not needed (Chip Authentication passed)"
    elif 15 in listed:
        read(lds.DG15)
        if "DG15" not in files:
            raise CorruptData("EF.COM lists DG15 but the chip has none")
        with timed(report, "active_authentication"):
            outcome = active_authenticate(session, files["DG15"], infos)
        report["active_authentication"] = (
            outcome if outcome.startswith("not run") else f"passed ({outcome})"
        )
    else:
        report["active_authentication"] = "not offered"
    try:
        read(lds.DG1)
    except SecureMessagingError as exc:
        if not passed_ca:
            raise
        raise ChipAuthenticationFailed(
            f"the chip failed Chip Authentication (no valid answer under the new keys: {exc}); "
            "its DG14 key is not its own"
        ) from exc


def proof_groups(
    security: sod.SecurityObject, files: dict[str, bytes], report: dict[str, Any]
) -> dict[int, bytes]:
    """DG14/DG15 as read, for their hashes to be checked; refuses a hidden one."""
    groups = {n: files[name] for n, name in ((14, "DG14"), (15, "DG15")) if name in files}
    if 14 in security.hashes and 14 not in groups:
        raise ChipAuthenticationFailed(
            "EF.SOD covers a DG14 the chip did not offer: Chip Authentication was skipped, "
            "as a copied chip would want"
        )
    ca_passed = str(report.get("chip_authentication", "")).startswith("passed")
    if 15 in security.hashes and 15 not in groups and not ca_passed:
        raise ChipAuthenticationFailed(
            "EF.SOD covers a DG15 the chip did not offer: Active Authentication was skipped"
        )
    return groups
