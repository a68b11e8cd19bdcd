"""Renews a terminal's certificate before it runs out, over mutual TLS with the current one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .bundle import IdentityError, TerminalIdentity
from .enroll_client import EnrollmentFailed, renew

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CertificateRenewal:
    """A check the terminal runs now and then: True when it has just renewed its certificate."""

    def __init__(self, data_dir: Path, clock: Callable[[], datetime] = _utcnow):
        self.data_dir = Path(data_dir)
        self.clock = clock

    def __call__(self) -> bool:
        try:
            identity = TerminalIdentity.load(self.data_dir, self.clock())
            if not identity.due_for_renewal(self.clock()):
                return False
            renewed = renew(self.data_dir, clock=self.clock)
        except (IdentityError, EnrollmentFailed) as exc:
            # The old certificate is still good until it expires: try again next time.
            log.error("certificate renewal failed, will retry: %s", exc)
            return False
        log.info("certificate renewed, valid until %s", renewed.not_after.isoformat())
        return True
