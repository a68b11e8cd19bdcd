"""A backend with real submissions and a scanned two-page PDF, for the console's tests."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date

import img2pdf
from PIL import Image, ImageDraw
from sqlalchemy import update

from backend.models import ApplicationPromise, StepDeadline
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

KEY = bytes(range(32))
PASSWORD = "Correct-Horse-42"
CHUNK = 32 * 1024


def scanned_pdf(pages: int = 2) -> bytes:
    """A PDF of A4 pages at 150 dpi, each with its number in a black box."""
    images = []
    for n in range(pages):
        page = Image.new("RGB", (1240, 1754), "white")
        ImageDraw.Draw(page).rectangle((100, 100, 400 + 100 * n, 300), fill="black")
        out = io.BytesIO()
        page.save(out, "JPEG", quality=80)
        images.append(out.getvalue())
    return img2pdf.convert(images, layout_fun=img2pdf.get_fixed_dpi_layout_fun((150, 150)))


def submit(
    service: BackendService,
    no: str,
    *,
    terminal: str = "T0001",
    item: str = "HJ-0101",
    pdf: bytes | None = None,
) -> None:
    """Ingest a submission (and its PDF's chunks) as the terminal would send them."""
    base = examples()["event.application_submitted"]
    materials = []
    batch: list[m.Message] = []
    if pdf is not None:
        sha = hashlib.sha256(pdf).hexdigest()
        materials.append(
            m.MaterialRef(
                material_code="household-register",
                sha256=sha,
                size=len(pdf),
                content_type="application/pdf",
                pages=2,
            )
        )
        batch += m.blob_chunks(terminal, pdf, CHUNK)
    event = base.model_copy(
        update={
            "message_id": m.new_message_id(),
            "application_no": no,
            "operation_id": no,
            "terminal_id": terminal,
            "item_code": item,
            "materials": materials,
            "reused_materials": [],
        }
    )
    service.ingest.handle_batch([(x.topic(), x.encode()) for x in [*batch, event]])


def csrf_of(page: str) -> str:
    """The CSRF token a console page's forms carry."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no form token"
    return match.group(1)


def sign_in(client, username: str, password: str = PASSWORD) -> None:
    """Sign in through the console's login form, as a browser does."""
    csrf = csrf_of(client.get("/console/login").text)
    r = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303


def promise_by(service: BackendService, no: str, day: date, result: date | None = None) -> None:
    """The case promised for `day`, and each of its steps due that day too (the result step on
    `result` when given): what colour tests set instead of the days a submission made."""
    with service.db.transaction() as session:
        session.get(ApplicationPromise, no).promised_by = day
        session.execute(
            update(StepDeadline).where(StepDeadline.application_no == no).values(due_on=day)
        )
        if result is not None:
            session.execute(
                update(StepDeadline)
                .where(StepDeadline.application_no == no, StepDeadline.step == "result")
                .values(due_on=result)
            )
