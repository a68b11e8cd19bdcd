"""A compartment's state and contents, and how they are written to the journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from locker.layout import CompartmentSpec


class State(StrEnum):
    """Where a compartment is in its life cycle."""

    EMPTY = "empty"
    RESERVED = "reserved"
    HOLDING_DEPOSIT = "holding_deposit"
    HOLDING_RESULT = "holding_result"
    OUT_OF_SERVICE = "out_of_service"


DEPOSIT = "deposit"
RESULT = "result"


@dataclass
class Compartment:
    """One compartment as the domain sees it; the bank hands out copies."""

    spec: CompartmentSpec
    state: State = State.EMPTY
    application_no: str | None = None
    load_id: str | None = None
    purpose: str | None = None  # 'deposit' | 'result' | None
    # repr=False: a digest is not a code, but it has no business in log lines either.
    code_digest: str | None = field(default=None, repr=False)
    code_expires_at: float | None = None
    withdrawn: bool = False  # staff took the result back; no code may open it again
    out_of_service_reason: str | None = None
    updated_at: float | None = None
    # Who may collect a result whose item asks for an identity check at pickup: the applicant
    # digest (ADR 0003). None: the code alone opens it. A pseudonym, so kept out of reprs.
    holder_ref: str | None = field(default=None, repr=False)
    # The second factor (ADR 0011): a keyed digest of the applicant's phone tail, never the
    # digits. None: the code alone opens it.
    tail_digest: str | None = field(default=None, repr=False)
    code_locked: bool = False  # too many wrong attempts addressed it: only a new code opens it
    # A deposit whose session ended before it was submitted, with nobody at the door (the
    # citizen walked away, the kiosk failed or stopped): the would-be application number. No
    # application exists for it, so `application_no` is None; it stays HOLDING_DEPOSIT, never
    # opened and never allocated, until staff collect the papers (`LockerBank.abandon_deposit`).
    abandoned_application_no: str | None = None

    @property
    def id(self) -> str:
        """The compartment's printed id, e.g. 'A01'."""
        return self.spec.id

    def cleared(self, at: float) -> Compartment:
        """This compartment emptied: no contents, no code, back in service."""
        return Compartment(spec=self.spec, state=State.EMPTY, updated_at=at)

    def to_record(self) -> dict[str, Any]:
        """The journal form: everything but the spec, which comes from the layout."""
        return {
            "state": self.state.value,
            "application_no": self.application_no,
            "load_id": self.load_id,
            "purpose": self.purpose,
            "code_digest": self.code_digest,
            "code_expires_at": self.code_expires_at,
            "withdrawn": self.withdrawn,
            "out_of_service_reason": self.out_of_service_reason,
            "updated_at": self.updated_at,
            "holder_ref": self.holder_ref,
            "tail_digest": self.tail_digest,
            "code_locked": self.code_locked,
            "abandoned_application_no": self.abandoned_application_no,
        }

    @classmethod
    def from_record(cls, spec: CompartmentSpec, record: dict[str, Any]) -> Compartment:
        """Rebuild a compartment from its latest journal record."""
        return cls(
            spec=spec,
            state=State(record["state"]),
            application_no=record.get("application_no"),
            load_id=record.get("load_id"),
            purpose=record.get("purpose"),
            code_digest=record.get("code_digest"),
            code_expires_at=record.get("code_expires_at"),
            withdrawn=bool(record.get("withdrawn", False)),
            out_of_service_reason=record.get("out_of_service_reason"),
            updated_at=record.get("updated_at"),
            holder_ref=record.get("holder_ref"),
            tail_digest=record.get("tail_digest"),
            code_locked=bool(record.get("code_locked", False)),
            abandoned_application_no=record.get("abandoned_application_no"),
        )
