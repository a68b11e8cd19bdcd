"""Security alarms the backend raises itself (forged, conflicting or out-of-order messages)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from cloud_bridge.contract import messages as m

from .alarms import Alarms


def raise_security_alarm(
    session: Session,
    terminal_id: str,
    operation_id: str,
    detail: str,
    now: datetime,
    alarms: Alarms | None = None,
) -> None:
    """A critical alarm on the terminal's record; the same operation id raises it only once.

    Not folded: each refused message is evidence of its own.
    """
    (alarms or Alarms()).raise_alarm(
        session,
        terminal_id,
        m.AlarmKind.SECURITY,
        m.Severity.CRITICAL,
        detail,
        now,
        actor="backend",
        operation_id=operation_id,
        fold=False,
    )
