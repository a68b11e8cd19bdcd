"""The identity step a flow shares: read the card, then the live face check against its photo.

A submission starts with it; a pickup whose item asks for it runs it between the code and the
opening. The flow mixes `IdentitySteps` in and names its own steps (class attributes
IDENTITY_STEP, FACE_STEP, VERIFIED_STEP, STAFF_STEP); it keeps `parts`, `step`, `document`,
`face`, `face_attempts` and `_face_check` as its own fields, so its `forget()` clears them.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from PIL import Image

from devices.identity.port import IdentityDocument, IdentityReadError, MrzKeyedReader
from devices.identity.remote_verify.port import RemoteIdentityVerifier
from face.check import FaceCheck, Guidance
from face.decision import FaceDecision
from terminal.flows.session import FlowError, TerminalParts, WrongStep

if TYPE_CHECKING:
    from devices.identity.emrtd.mrz import MrzKey

# What a screen asks the document camera for when it reads a passport's MRZ.
PASSPORT_PAGE = "passport photo page"

log = logging.getLogger(__name__)

MAX_FACE_ATTEMPTS = 3
DEFAULT_FACE_FPS = 10.0  # frames a second assumed of a face camera that does not say


def card_error_key(exc: IdentityReadError) -> str:
    """The catalog key that tells the citizen what to do after a failed read: the one of the
    nearest error type the catalogs word (card.error.AccessDenied, a TlvError as CorruptData,
    ...), else the general one. The readers' errors carry no citizen text of their own."""
    from terminal.coded import english

    for cls in type(exc).__mro__:
        key = f"card.error.{cls.__name__}"
        if english(key) != key:
            return key
    return "card.error.unreadable"


# A travel document (passport chip) stands as identity only when its data is traced to the
# state that issued it and, if the chip can prove it is no copy, it did.
ISSUER_VERIFIED = "issuer_verified"
CHIP_PROOF_ACCEPTED = ("passed", "not offered")


def travel_document_refusal(document: IdentityDocument) -> str | None:
    """Why this document may not stand as the citizen's identity here, for the staff's log (no
    personal data); None when it may.

    A resident ID card passes unchanged (its reader checks it). Any other document (a passport
    or another ICAO travel document) needs passive authentication up to a configured CSCA
    (`issuer_verified`: EF.SOD present, every data group read matches its hash, the document
    signer's signature holds and the signer chains to a CSCA of the terminal's master lists),
    and Chip or Active Authentication passed whenever the chip offers one. A chip carrying
    someone else's MRZ and the holder's own photo, without EF.SOD or signed by a signer of the
    forger's own, is refused here: the face would match it.
    """
    if document.document_type == "cn_resident_id":
        return None
    if document.authenticity != ISSUER_VERIFIED:
        why = {
            "chip_read": "no EF.SOD, or its signature could not be checked",
            "chip_verified": "its document signer does not chain to a configured CSCA "
            "(a forgery, or no master list holds this state's CSCA)",
        }.get(document.authenticity, "not checked against its issuing state")
        return f"authenticity {document.authenticity}: {why}"
    if document.chip_proof not in CHIP_PROOF_ACCEPTED:
        return (
            f"chip proof {document.chip_proof}: the chip offers Chip or Active Authentication "
            "that this reader could not run, so a copied chip would go unnoticed"
        )
    return None


class IdentitySteps:
    """Card read and live face check, for any flow that names its steps."""

    IDENTITY_STEP: ClassVar[Any]
    FACE_STEP: ClassVar[Any]
    VERIFIED_STEP: ClassVar[Any]  # where a verified face leads
    STAFF_STEP: ClassVar[Any]  # no more tries here: a staff-assisted check in office hours

    parts: TerminalParts
    step: Any
    document: IdentityDocument | None
    face: FaceDecision | None
    face_attempts: int
    _face_check: FaceCheck | None

    def _expect_step(self, *steps: Any) -> None:
        if self.step not in steps:
            raise WrongStep(f"cannot do that at step {self.step}")

    def _give_up_identity(self) -> None:
        """No more tries here; a flow may add what else this means (release a claim)."""
        self.step = self.STAFF_STEP

    def read_identity(
        self, timeout_s: float = 30.0, mrz_key: MrzKey | None = None
    ) -> IdentityDocument:
        """Read the citizen's document from the reader.

        A passport chip (eMRTD) opens only with the key from its machine-readable zone, which
        the citizen types on the kiosk's keypad: `mrz_key` goes to readers that take one. A
        passport is taken only when it is traced to its issuing state and its chip proved
        itself genuine when it can (`travel_document_refusal`); otherwise the citizen is sent
        to the ID card or the service hall (card.error.PassportNotVerified).
        """
        self._expect_step(self.IDENTITY_STEP)
        reader = self.parts.identity_reader
        try:
            if mrz_key is None:
                document = reader.read(timeout_s)
            elif reader.needs_mrz_key:
                keyed = cast(MrzKeyedReader, reader)
                document = keyed.read(timeout_s, mrz_key=mrz_key)
            else:
                raise FlowError("card.error.id_cards_only")
        except IdentityReadError as exc:
            raise FlowError(card_error_key(exc)) from exc
        refusal = travel_document_refusal(document)
        if refusal is not None:
            # The citizen is told to use the ID card or the service hall; nothing of the
            # document is kept, and the face step is not reached.
            log.warning("%s refused as identity: %s", document.document_type, refusal)
            raise FlowError("card.error.PassportNotVerified")
        self.document = document
        self.step = self.FACE_STEP
        return self.document

    def verify_face(
        self,
        on_guidance: Callable[[Guidance], None] | None = None,
        *,
        on_frame: Callable[[np.ndarray], None] | None = None,
        fps: float | None = None,
        frame_limit: int = 600,
    ) -> FaceDecision:
        """Match the live face to the document photo; after 3 failures offer staff help.

        With a live face check configured (production), this plays the kiosk's part without a
        screen: frames from the face camera, timed by its frame rate (the camera's own `fps`,
        else 10 a second; a camera films in real time, so the check's prompts time out in the
        person's seconds), each guidance handed to
        `on_guidance` (the screen, or an emulated person reading it) and each frame to
        `on_frame` (the screen's live preview). A screen may instead drive the check frame by
        frame through `begin_face_check` and `finish_face_check`.
        """
        self._expect_step(self.FACE_STEP)
        if not self.parts.live_face_check:
            return self._verify_face_once()
        frames = 0
        rate = fps or getattr(self.parts.face_camera, "fps", None) or DEFAULT_FACE_FPS

        def frame_clock() -> float:
            return frames / rate

        check = self._face_check
        if check is not None and check.finished:
            check.retry()
        elif check is None:
            check = self.begin_face_check(clock=frame_clock)
        while not check.finished and frames < frame_limit:
            frame = self.parts.face_camera.capture()
            if on_frame is not None:
                on_frame(frame)
            guidance = check.feed(frame)
            frames += 1
            if on_guidance is not None:
                on_guidance(guidance)
        if not check.finished:
            check.wipe()
            self._face_check = None
            raise FlowError("face.error.not_seen")
        return self.finish_face_check(check)

    def begin_face_check(self, clock: Callable[[], float] = time.monotonic) -> FaceCheck:
        """Start the live face check (a random blink/turn challenge, then the 1:1 match)."""
        self._expect_step(self.FACE_STEP)
        assert self.document is not None
        remote = None
        if not self.document.photo:
            # A resident ID card read without the vendor's photo decoder has no photo to match:
            # the live face goes to the remote identity-verification service, if there is one.
            if self.parts.remote_verifier is None:
                self._give_up_identity()
                raise FlowError("face.error.no_photo_here")
            remote = remote_match(self.parts.remote_verifier, self.document)
        if self._face_check is not None:
            self._face_check.wipe()
        self._face_check = FaceCheck(
            self.document.photo or None,
            remote_match=remote,
            rng=self.parts.face_rng,
            max_attempts=MAX_FACE_ATTEMPTS,
            clock=clock,
        )
        return self._face_check

    def finish_face_check(self, check: FaceCheck) -> FaceDecision:
        """Take the finished check's decision: on to the next step, another try, or staff help."""
        self._expect_step(self.FACE_STEP)
        if check is not self._face_check or not check.finished or check.decision is None:
            raise WrongStep("the face check has not finished")
        decision = check.decision
        self.face = decision
        self.face_attempts = decision.attempts
        if decision.verified:
            check.wipe()
            self._face_check = None
            self.step = self.VERIFIED_STEP
            return decision
        if check.staff_alternative_required:
            check.wipe()
            self._face_check = None
            self._give_up_identity()
            raise FlowError("face.error.not_matched")
        raise FlowError("face.error.not_confirmed_yet")

    def _verify_face_once(self) -> FaceDecision:
        assert self.document is not None
        frames = [self.parts.face_camera.capture()]
        decision = self.parts.face_verifier.verify(self.document.photo, frames)
        self.face_attempts += 1
        self.face = decision
        if decision.verified:
            self.step = self.VERIFIED_STEP
        elif self.face_attempts >= MAX_FACE_ATTEMPTS:
            self._give_up_identity()
            raise FlowError("face.error.not_matched")
        else:
            raise FlowError("face.error.try_again")
        return decision

    def forget_identity(self) -> None:
        """Drop the document, the decision and any running check with its frames."""
        self.document = None
        self.face = None
        if self._face_check is not None:
            self._face_check.wipe()
            self._face_check = None


def remote_match(
    verifier: RemoteIdentityVerifier, document: IdentityDocument
) -> Callable[[np.ndarray], tuple[bool, float]]:
    """Ask the remote service whether this live frame is the registered holder of the card."""
    name, number = document.name, document.number

    def match(frame: np.ndarray) -> tuple[bool, float]:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, "JPEG", quality=90)
        verdict = verifier.verify(name, number, buf.getvalue())
        log.info(
            "remote identity verification %s: %s (score %.2f)",
            verdict.transaction_id,
            verdict.result,
            verdict.score,
        )
        return verdict.matched, verdict.score

    return match
