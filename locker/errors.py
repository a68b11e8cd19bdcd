"""Locker errors, each worded for the citizen at the screen or the operator reading the log.

The structured attributes (retry_after_s, compartment_id, ...) let the terminal render its
own translated text; the English message is the fallback and the log line.
"""

from __future__ import annotations

HOTLINE = "Please call the service hotline."


class LockerError(Exception):
    """Base of every error the locker domain raises."""


class LayoutError(LockerError, ValueError):
    """The configured compartment layout is invalid; the message names the bad entry."""


class NoCompartmentFree(LockerError):
    """No free compartment is large enough."""

    def __init__(self, size: str) -> None:
        self.size = size
        super().__init__(
            f"No compartment of size {size} or larger is free at this terminal right now."
        )


class UnknownCompartment(LockerError):
    """The compartment id is not part of this terminal's layout."""

    def __init__(self, compartment_id: str) -> None:
        self.compartment_id = compartment_id
        super().__init__(f"Compartment {compartment_id!r} does not exist at this terminal.")


class UnknownLoad(LockerError):
    """No compartment holds or is reserved for this load."""

    def __init__(self, load_id: str) -> None:
        self.load_id = load_id
        super().__init__(f"No compartment is reserved for load {load_id!r} at this terminal.")


class InvalidTransition(LockerError):
    """The operation does not fit the compartment's current state."""


class WrongCode(LockerError):
    """The typed code matches no result waiting for pickup."""

    def __init__(self, attempts_left: int, retry_after: float) -> None:
        self.attempts_left = attempts_left
        self.retry_after = retry_after
        text = "That code is not right. Please check the SMS and try again."
        if retry_after > 0:
            text += f" You can try again in {_seconds(retry_after)}."
        super().__init__(text)


class TooManyAttempts(LockerError):
    """The keypad is locked out after repeated wrong codes; no code was checked."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"Too many wrong codes were entered. Please try again in {_seconds(retry_after_s)}."
        )


class CodeExpired(LockerError):
    """The code was right but its pickup period is over."""

    def __init__(self) -> None:
        super().__init__(
            "That code has expired. Please call the service hotline to arrange a new pickup."
        )


class CodeCollision(LockerError):
    """A new pickup code's digest equals another active compartment's digest."""

    def __init__(self, load_id: str) -> None:
        self.load_id = load_id
        # Never say which compartment: the colliding code belongs to someone else.
        super().__init__(
            f"The pickup code for load {load_id!r} is already in use at this terminal; "
            "issue a different code."
        )


class LockerFault(LockerError):
    """The lock board did not open a compartment; nothing changed in the compartment."""

    def __init__(self, compartment_id: str, detail: str) -> None:
        self.compartment_id = compartment_id
        self.detail = detail
        super().__init__(
            f"Compartment {compartment_id} could not be opened ({detail}). Nothing has been "
            f"lost: its contents stay in place. {HOTLINE}"
        )


def _seconds(value: float) -> str:
    whole = max(1, round(value))
    return "1 second" if whole == 1 else f"{whole} seconds"


class DoorJammed(LockerFault):
    """The lock was pulsed twice and the door stayed shut: the compartment is out of service.

    ``holds_contents`` tells whether something (a result, originals) is inside, so the
    citizen hears that staff will contact them rather than that nothing happened.
    """

    def __init__(self, compartment_id: str, holds_contents: bool) -> None:
        self.holds_contents = holds_contents
        LockerError.__init__(
            self,
            f"Compartment {compartment_id} did not open. It has been taken out of service and "
            "staff have been alerted."
            + (
                " Your documents stay safe inside; staff will contact you to hand them over."
                if holds_contents
                else ""
            ),
        )
        self.compartment_id = compartment_id
        self.detail = "door did not open after two unlock pulses"


class OpeningUnconfirmed(LockerFault):
    """The lock board failed once a pulse may have reached the lock, and no sensor saw the door
    stay shut: the door may have opened. Its contents stay on record and staff check them."""

    def __init__(self, compartment_id: str, detail: str) -> None:
        LockerError.__init__(
            self,
            f"Compartment {compartment_id} may have opened: its lock board failed after the "
            f"unlock was sent ({detail}). Staff have been alerted and will check whether its "
            f"contents are still inside. {HOTLINE}",
        )
        self.compartment_id = compartment_id
        self.detail = detail


class DoorStillOpen(LockerError):
    """Someone said they shut a compartment's door (a deposit, a result loaded), but its sensor
    still reads it open: the compartment is not taken as closed until it does."""

    def __init__(self, compartment_id: str) -> None:
        super().__init__(
            f"The door of compartment {compartment_id} is still open. Push it shut until it "
            "clicks, then confirm again."
        )
        self.compartment_id = compartment_id


class CompartmentOutOfService(LockerError):
    """The code is right but its compartment is out of service (jammed, under repair)."""

    def __init__(self, compartment_id: str) -> None:
        self.compartment_id = compartment_id
        super().__init__(
            "Your documents are in a compartment that cannot be opened right now. Staff have "
            f"been alerted and will contact you to hand them over. {HOTLINE}"
        )


class CompartmentWithheld(CompartmentOutOfService):
    """The code is right, but an operator locked its compartment: nothing opens here for now."""

    def __init__(self, compartment_id: str) -> None:
        self.compartment_id = compartment_id
        LockerError.__init__(
            self,
            "Your documents are in a compartment that has been taken out of service; it opens "
            "for no code for now. Please collect them at the counter during office hours. "
            + HOTLINE,
        )


class IdentityRequired(LockerError):
    """The code is right, but this result is handed over only after the holder's identity check."""

    def __init__(self, compartment_id: str) -> None:
        self.compartment_id = compartment_id
        super().__init__(
            "This result is handed over only to the applicant. Please place the applicant's ID "
            "card on the reader to continue."
        )


class WrongHolder(LockerError):
    """The identity check passed, but for someone other than the applicant; nothing opened.

    Counted like a wrong code: ``attempts_left`` and ``retry_after`` follow the keypad's streak.
    """

    def __init__(self, attempts_left: int, retry_after: float) -> None:
        self.attempts_left = attempts_left
        self.retry_after = retry_after
        super().__init__(
            "This result is for the applicant; please bring their ID card. Nothing was opened."
        )


class ClaimLapsed(LockerError):
    """A checked code can no longer open: too much time passed, or staff changed the result."""

    def __init__(self) -> None:
        super().__init__("Please type your pickup code again.")


class CodeLocked(LockerError):
    """Too many wrong attempts were addressed to this result; its code opens nothing any more.

    Staff have the alarm and send a new code by SMS; until then the result stays inside.
    """

    def __init__(self) -> None:
        super().__init__(
            "For your safety this pickup code has been locked after too many wrong attempts. "
            "Your documents stay safe inside; staff have been alerted and will send you a new "
            f"code by SMS. {HOTLINE}"
        )
