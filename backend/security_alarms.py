"""Security alarms the backend raises itself (forged, conflicting or out-of-order messages)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .models import AlarmRow


def raise_security_alarm(
    session: Session, terminal_id: str, operation_id: str, detail: str, now: datetime
) -> None:
    """A critical alarm on the terminal's record; the same operation id raises it only once."""
    session.merge(
        AlarmRow(
            terminal_id=terminal_id,
            operation_id=operation_id,
            kind=m.AlarmKind.SECURITY.value,
            severity=m.Severity.CRITICAL.value,
            compartment_id=None,
            detail=detail[:2000],
            raised_at=now,
            received_at=now,
        )
    )
