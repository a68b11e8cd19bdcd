"""The console over the real app (TestClient, SQLite): sign-in, queue, case, scans, actions."""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from console_cases import KEY, PASSWORD, promise_by, scanned_pdf, submit
from fastapi.testclient import TestClient
from held_transactions import done_while_held
from PIL import Image
from pypdf import PdfWriter
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.console.cases import HOLDER_FILTERS
from backend.console.deadlines import Colour
from backend.console.i18n import catalog
from backend.console.pages import router as console_router
from backend.console.statistics import LEVELS
from backend.console.viewer import MAX_PAGE_PIXELS
from backend.models import IngestCounter, StaffAction
from backend.notifications.staff import CHANNEL_ERRORS
from backend.notifications.staff import KINDS as NOTICE_KINDS
from backend.service import BackendService
from backend.staff import ACTIONS, STEP_ACTIONS
from backend.step_deadlines import STEPS
from backend.workflow import State
from cloud_bridge.contract.messages import (
    SERVICE_TZ,
    IdDocumentType,
    MaterialRef,
    blob_chunks,
    new_message_id,
)
from cloud_bridge.contract.schema import examples

NO, OTHER = "AH-T0001-20261120-0001", "AH-T0002-20261120-0001"
UNAVAILABLE = catalog("zh")["viewer.unavailable"]  # what a clerk reads for a file not shown
CONSOLE = Path(__file__).parents[3] / "backend" / "console"


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    for terminal in ("T0001", "T0002"):
        svc.register_terminal(terminal, KEY)
    submit(svc, NO, pdf=scanned_pdf())
    submit(svc, OTHER, terminal="T0002", item="SB-0201")
    accounts = Accounts(svc.db)
    for name, roles in (
        ("clerk.li", ["clerk"]),
        ("clerk.wang", ["clerk"]),
        ("op.zhao", ["operator"]),
        ("sup.ma", ["supervisor"]),
    ):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    accounts.add("clerk.new", ["clerk"], password=PASSWORD)
    yield svc
    svc.stop()


@pytest.fixture
def app(service):
    return create_app(service)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD):
    form = client.get("/console/login").text
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": _csrf(form)},
        follow_redirects=False,
    )


def _form(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the action's form on a case page."""
    block = re.search(
        rf'<form[^>]*/act"[^>]*>(?:(?!</form>).)*value="{action}"(?:(?!</form>).)*</form>',
        html,
        re.S,
    ).group(0)
    return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', block))


def test_every_console_page_sends_a_stranger_to_sign_in(app):
    # Console routes stay out of the OpenAPI document, so they are walked from their router.
    with TestClient(app) as client:
        paths = [
            (r.path, m)
            for r in console_router.routes
            if not r.path.startswith("/console/login")
            for m in r.methods
        ]
        assert len(paths) >= 8
        for path, method in paths:
            url = re.sub(r"\{[^}]+\}", "1", path)
            r = client.request(method, url, follow_redirects=False)
            if method == "GET" and path != "/console/":
                assert (r.status_code, r.headers["location"]) == (303, "/console/login"), path
            elif method == "POST":
                assert r.status_code == 401, path


def test_sign_in_refuses_a_wrong_password_and_a_form_without_its_token(app):
    with TestClient(app) as client:
        wrong = sign_in(client, "clerk.li", "not-the-password")
        assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
        forged = client.post(
            "/console/login",
            data={"username": "clerk.li", "password": PASSWORD, "csrf_token": "made-up"},
        )
        assert forged.status_code == 403
        ok = sign_in(client, "clerk.li")
        assert (ok.status_code, ok.headers["location"]) == (303, "/console/queue")
        assert "HttpOnly" in ok.headers["set-cookie"]


def test_the_initial_password_is_changed_before_the_queue_opens(app):
    with TestClient(app) as client:
        first = sign_in(client, "clerk.new")
        assert first.headers["location"] == "/console/password"
        queue = client.get("/console/queue", follow_redirects=False)
        assert queue.headers["location"] == "/console/password"
        page = client.get("/console/password").text
        fields = {"current_password": PASSWORD, "csrf_token": _csrf(page)}
        bad = client.post(
            "/console/password",
            data=fields | {"new_password": "short1", "repeat_password": "short1"},
        )
        assert bad.status_code == 422 and "at least 10" in bad.text
        new = "Blue-Lantern-77"
        good = client.post(
            "/console/password", data=fields | {"new_password": new, "repeat_password": new}
        )
        assert good.status_code == 200 and NO in good.text


def test_the_queue_filters_by_state_item_and_terminal(app):
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        everything = client.get("/console/queue").text
        assert NO in everything and OTHER in everything
        by_terminal = client.get("/console/queue", params={"terminal": "T0002"}).text
        assert OTHER in by_terminal and NO not in by_terminal
        by_item = client.get("/console/queue", params={"item": "HJ-0101"}).text
        assert NO in by_item and OTHER not in by_item
        assert NO not in client.get("/console/queue", params={"state": "approved"}).text
        rows = client.get(
            "/console/queue", params={"state": "submitted"}, headers={"HX-Request": "true"}
        )
        assert rows.text.lstrip().startswith("<table") and NO in rows.text


def test_the_case_page_masks_the_applicant_and_lists_the_scans(app):
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        page = client.get(f"/console/applications/{NO}")
        assert page.status_code == 200
        assert "1101**********002X" in page.text and "138****8000" in page.text
        for clear in ("11010519491231002X", "13800138000", "张三"):
            assert clear not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert 'data-testid="open-household-register"' in page.text


def test_the_case_page_masks_a_passport_number_by_the_passports_rule(app, service):
    """Not the ID card's 4 and 4, which showed E123*5678: 8 of the 9 characters."""
    no = "AH-T0001-20261120-0009"
    base = examples()["event.application_submitted"]
    applicant = base.applicant.model_copy(
        update={
            "id_document_type": IdDocumentType.PASSPORT,
            "id_number": "E12345678",
            "name": "ZHANG SAN",
        }
    )
    event = base.model_copy(
        update={
            "message_id": new_message_id(),
            "application_no": no,
            "operation_id": no,
            "applicant": applicant,
            "materials": [],
            "reused_materials": [],
        }
    )
    service.ingest.handle_batch([(event.topic(), event.encode())])
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        page = client.get(f"/console/applications/{no}").text
        assert re.findall(r'data-testid="id-number"[^>]*>([^<]*)<', page) == ["E1*****78"]
        for clear in ("E12345678", "E123*5678", "ZHANG SAN"):
            assert clear not in page
        sign_in(client, "sup.ma")
        full = client.get(f"/console/applications/{no}", params={"unmasked": 1}).text
        assert re.findall(r'data-testid="id-number"[^>]*>([^<]*)<', full) == ["E12345678"]


def test_pages_and_scans_answer_while_ingest_holds_its_transaction_open(app, service):
    """Ingest holds a transaction while it applies a batch. On SQLite every page (the sign-in
    check, the page, the unread notices) took the write lock too, so a clerk waited for each
    batch's commit, and ingest for each page; now they read beside it."""
    answers: list[int] = []
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        case = client.get(f"/console/applications/{NO}").text
        scan = re.search(r'href="(/console/applications/[^"]+/materials/\d+)', case).group(1)
        urls = ("/console/queue", f"/console/applications/{NO}", scan, "/healthz")
        assert done_while_held(
            service.db,
            lambda session: session.add(IngestCounter(name="mid-batch", value=1)),
            lambda: answers.extend(client.get(url).status_code for url in urls),
            reading=False,
        )
    assert answers == [200, 200, 200, 200]


def test_an_unknown_case_or_scan_answers_404_at_once(app):
    # The 404 page reads the signed-in clerk's unread notices in a transaction of its own; made
    # inside the lookup's transaction it waited on its lock (SQLite) until it failed with a 500.
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, "clerk.li")
        for url in (
            "/console/applications/AH-T0001-20261203-9999",
            f"/console/applications/{NO}/materials/999",
        ):
            page = client.get(url)
            assert page.status_code == 404, url


def test_the_viewer_pages_through_the_pdf_at_a_readable_size(app, service):
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        link = re.search(
            r'href="(/console/applications/[^"]+/materials/\d+)"',
            client.get(f"/console/applications/{NO}").text,
        ).group(1)
        viewer = client.get(link, params={"page": 2}).text
        assert "第 2 页，共 2 页" in viewer
        png = client.get(f"{link}/pages/2.png")
        assert (
            png.headers["content-type"] == "image/png"
            and png.headers["cache-control"] == "no-store"
        )
        image = Image.open(io.BytesIO(png.content))
        assert image.width == 1100 and 1500 < image.height < 1600
        # The box drawn on page 2 is wider than page 1's: the right page was rendered.
        assert image.getpixel((int(1100 * 450 / 1240), 200))[0] < 60
        assert client.get(f"{link}/pages/3.png").status_code == 404
        material_id = link.rsplit("/", 1)[1]
        elsewhere = f"/console/applications/{OTHER}/materials/{material_id}/pages/1.png"
        assert client.get(elsewhere).status_code == 404


def _submit_file(service: BackendService, no: str, data: bytes, content_type: str) -> None:
    """A submission whose one material is `data`, sent as a terminal sends it: the backend checks
    its SHA-256, its content is whatever the terminal put in."""
    ref = MaterialRef(
        material_code="household-register",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        content_type=content_type,
        pages=1,
    )
    event = examples()["event.application_submitted"].model_copy(
        update={
            "message_id": new_message_id(),
            "application_no": no,
            "operation_id": no,
            "terminal_id": "T0001",
            "materials": [ref],
            "reused_materials": [],
        }
    )
    batch = [*blob_chunks("T0001", data, 32 * 1024), event]
    service.ingest.handle_batch([(x.topic(), x.encode()) for x in batch])


def _scan_link(client: TestClient, no: str) -> str:
    case = client.get(f"/console/applications/{no}")
    assert case.status_code == 200  # a bad file never breaks the case page
    return re.search(rf'href="(/console/applications/{no}/materials/\d+)"', case.text).group(1)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width × height pixels and holds none."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _image(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white").save(out, fmt, optimize=True)
    return out.getvalue()


def test_a_scanned_image_up_to_a_usb_import_size_is_shown_at_a_readable_size(app, service):
    _submit_file(service, "AH-T0001-20261120-0002", _image((1240, 1754), "PNG"), "image/png")
    # USB imports are rendered within 5 megapixels.
    _submit_file(service, "AH-T0001-20261120-0003", _image((2580, 1936), "JPEG"), "image/jpeg")
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        for no in ("AH-T0001-20261120-0002", "AH-T0001-20261120-0003"):
            link = _scan_link(client, no)
            assert "第 1 页，共 1 页" in client.get(link).text
            png = client.get(f"{link}/pages/1.png")
            assert png.status_code == 200, no
            assert Image.open(io.BytesIO(png.content)).width == 1100


def test_an_image_declaring_more_pixels_than_any_scan_is_not_decoded(app, service):
    """6000 × 6000 white pixels make a PNG of some 50 KB; decoded, 108 MB in RGB. The file is
    refused on its header: the viewer says it cannot be shown and its page answers 404."""
    bomb = _image((6000, 6000), "PNG", mode="L")
    assert len(bomb) < 200_000
    _submit_file(service, "AH-T0001-20261120-0002", bomb, "image/png")
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        link = _scan_link(client, "AH-T0001-20261120-0002")
        viewer = client.get(link)
        assert viewer.status_code == 200
        assert UNAVAILABLE in viewer.text and 'data-testid="page"' not in viewer.text
        assert client.get(f"{link}/pages/1.png").status_code == 404


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"%PDF-1.7 this is no pdf at all", "application/pdf"),
        (b"not a jpeg", "image/jpeg"),
        # Past Pillow's own limit, where Image.open raises DecompressionBombError.
        (_png_header(20_000, 20_000), "image/png"),
    ],
    ids=["not-a-pdf", "not-a-jpeg", "png-past-pillows-limit"],
)
def test_a_file_that_does_not_decode_is_a_page_that_cannot_be_shown(
    app, service, data, content_type
):
    _submit_file(service, "AH-T0001-20261120-0002", data, content_type)
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, "clerk.li")
        link = _scan_link(client, "AH-T0001-20261120-0002")
        viewer = client.get(link)
        assert viewer.status_code == 200
        assert UNAVAILABLE in viewer.text
        assert client.get(f"{link}/pages/1.png").status_code == 404


def test_a_pdf_page_of_any_size_renders_within_the_pixel_budget(app, service):
    """A page's size is the terminal's word too. A sliver 1 pt wide and 20 million pt long, drawn
    to the budget, still took a whole pixel across: 11 million pixels, not 6."""
    writer = PdfWriter()
    for width, height in ((595, 842), (100, 3000), (1, 20_000_000)):
        writer.add_blank_page(width=width, height=height)
    out = io.BytesIO()
    writer.write(out)
    _submit_file(service, "AH-T0001-20261120-0002", out.getvalue(), "application/pdf")
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, "clerk.li")
        link = _scan_link(client, "AH-T0001-20261120-0002")
        assert "第 1 页，共 3 页" in client.get(link).text
        sizes = []
        for page in (1, 2, 3):
            png = client.get(f"{link}/pages/{page}.png")
            assert png.status_code == 200, page
            sizes.append(Image.open(io.BytesIO(png.content)).size)
        assert sizes[0] == (1100, 1557)
        for width, height in sizes:
            assert width * height <= MAX_PAGE_PIXELS, sizes


def test_two_clerks_on_one_case_one_wins_and_the_other_is_told_who(app):
    with TestClient(app) as li, TestClient(app) as wang:
        sign_in(li, "clerk.li")
        sign_in(wang, "clerk.wang")
        li_form = _form(li.get(f"/console/applications/{NO}").text, "accept")
        wang_form = _form(wang.get(f"/console/applications/{NO}").text, "accept")

        won = li.post(f"/console/applications/{NO}/act", data=li_form, follow_redirects=False)
        lost = wang.post(f"/console/applications/{NO}/act", data=wang_form)

        assert won.status_code == 303 and won.headers["location"].endswith("done=accept")
        assert lost.status_code == 409
        assert "clerk.li 已于" in lost.text and "已受理" in lost.text
        again = li.post(f"/console/applications/{NO}/act", data=li_form, follow_redirects=False)
        assert again.status_code == 303  # the same key again: applied once, answered again


def test_an_action_without_the_role_or_the_csrf_token_is_refused(app):
    with TestClient(app) as clerk, TestClient(app) as operator:
        sign_in(clerk, "clerk.li")
        form = _form(clerk.get(f"/console/applications/{NO}").text, "accept")
        sign_in(operator, "op.zhao")
        refused = operator.post(
            f"/console/applications/{NO}/act",
            data=form | {"csrf_token": _csrf(operator.get("/console/password").text)},
        )
        assert refused.status_code == 403 and "您的角色不能进行此操作" in refused.text
        no_token = clerk.post(
            f"/console/applications/{NO}/act",
            data={k: v for k, v in form.items() if k != "csrf_token"},
        )
        assert no_token.status_code == 403
        assert "已提交" in clerk.get(f"/console/applications/{NO}").text


def test_both_catalogs_cover_every_key_the_pages_use():
    zh = json.loads((CONSOLE / "catalogs" / "zh.json").read_text(encoding="utf-8"))
    en = json.loads((CONSOLE / "catalogs" / "en.json").read_text(encoding="utf-8"))
    assert set(zh) == set(en)
    key = r"[a-z_]+(?:\.[a-z_]+)+"
    used = set()
    for template in (CONSOLE / "templates").glob("*.html"):
        used |= set(re.findall(rf't\("({key})"', template.read_text(encoding="utf-8")))
    code = (CONSOLE / "pages.py").read_text(encoding="utf-8")
    used |= set(re.findall(r'"((?:login|act|password|claim)\.[a-z_]+(?:\.[a-z_]+)*)"', code))
    used -= {"login.html", "password.html"}
    # Keys the pages build from a state or an action name.
    used |= {f"state.{s}" for s in State} | {f"act.{a}" for a in ACTIONS}
    used |= {f"act.done.{a}" for a in (*STEP_ACTIONS, "load_result")}
    used |= {f"colour.{c}" for c in Colour} | {f"owed.{c}" for c in Colour}
    used |= {f"holder.{h}" for h in HOLDER_FILTERS} | {f"notices.{k}" for k in NOTICE_KINDS}
    used |= {f"esc.level.{x}" for x in ("clerk", "supervisor")}
    used |= {f"esc.cause.{x}" for x in ("deadline", "owed", "step")}
    used |= {f"rating.{n}" for n in LEVELS} | {f"steps.{s}" for s in STEPS}
    used |= {f"notices.bad.{k}" for k in CHANNEL_ERRORS}
    assert used and used <= set(zh)


def test_the_page_switches_to_english_and_remembers_it(app):
    with TestClient(app) as client:
        assert "Staff sign-in" in client.get("/console/login", params={"lang": "en"}).text
        assert "Staff sign-in" in client.get("/console/login").text
        assert "工作人员登录" in client.get("/console/login", params={"lang": "zh"}).text


def test_a_supervisor_may_show_the_applicant_in_full_and_the_view_is_recorded(app, service):
    with TestClient(app) as clerk, TestClient(app) as supervisor:
        sign_in(clerk, "clerk.li")
        assert 'data-testid="unmask"' not in clerk.get(f"/console/applications/{NO}").text
        refused = clerk.get(f"/console/applications/{NO}", params={"unmasked": 1})
        assert refused.status_code == 403 and "11010519491231002X" not in refused.text
        sign_in(supervisor, "sup.ma")
        page = supervisor.get(f"/console/applications/{NO}").text
        assert 'data-testid="unmask"' in page and "11010519491231002X" not in page
        full = supervisor.get(f"/console/applications/{NO}", params={"unmasked": 1}).text
        assert "11010519491231002X" in full and "13800138000" in full
    with service.db.transaction() as s:
        actions = s.scalars(select(StaffAction.action)).all()
        assert actions == ["view_unmasked"]


def test_the_queue_shows_deadline_colours_and_filters_by_them(app, service):
    today = datetime.now(SERVICE_TZ).date()
    # NO keeps the promise its submission made (days ago, so red); OTHER is due today.
    promise_by(service, OTHER, today)
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        red = client.get("/console/queue", params={"colour": "red"}).text
        assert NO in red and OTHER not in red and "红色预警" in red
        blue = client.get("/console/queue", params={"colour": "blue"}).text
        assert OTHER in blue and NO not in blue and "蓝色预警" in blue
        assert client.get("/console/queue", params={"colour": "purple"}).status_code == 200


def test_a_refused_action_says_why_and_keeps_the_note_typed(app):
    with TestClient(app) as client:
        sign_in(client, "clerk.li")
        accept = _form(client.get(f"/console/applications/{NO}").text, "accept")
        client.post(f"/console/applications/{NO}/act", data=accept)
        reject = _form(client.get(f"/console/applications/{NO}").text, "reject")
        r = client.post(
            f"/console/applications/{NO}/act", data=reject | {"note": "第二页缺章", "reason": ""}
        )
        assert r.status_code == 422 and "请从列表中选择原因" in r.text
        assert 'value="第二页缺章"' in r.text
        assert "已受理" in r.text  # nothing changed
