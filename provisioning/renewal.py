"""Keeps a terminal's identity current: its certificate renewed before it runs out, and the
backend keys it trusts in step with a key rotation, both over mutual TLS."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .bundle import IdentityError, TerminalIdentity
from .enroll_client import EnrollmentFailed, refresh_trusted_keys, renew

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CertificateRenewal:
    """A check the terminal runs now and then; it returns the backend keys to trust when the
    certificate or those keys changed (the link then reloads both), else None."""

    def __init__(self, data_dir: Path, clock: Callable[[], datetime] = _utcnow):
        self.data_dir = Path(data_dir)
        self.clock = clock

    def __call__(self) -> tuple[str, ...] | None:
        changed = False
        try:
            identity = TerminalIdentity.load(self.data_dir, self.clock())
            if identity.due_for_renewal(self.clock()):
                renewed = renew(self.data_dir, clock=self.clock)
                log.info("certificate renewed, valid until %s", renewed.not_after.isoformat())
                changed = True
            else:
                changed = refresh_trusted_keys(self.data_dir, clock=self.clock)
                if changed:
                    log.warning("the backend announced a signing key rotation: keys updated")
        except (IdentityError, EnrollmentFailed) as exc:
            # The old certificate and keys are still good: try again next time.
            log.error("identity check failed, will retry: %s", exc)
        if not changed:
            return None
        return TerminalIdentity.load(self.data_dir, self.clock()).bundle.backend_signing_keys
