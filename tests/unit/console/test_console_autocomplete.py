"""No form of the console feeds the browser's autofill: Chromium kept a clerk's note
("called 13800138000") in its profile's autofill table, to offer it in any form afterwards.
Every form with a field one types into carries autocomplete="off", and so does each such field;
the sign-in and password forms keep the tokens that let a password manager do its work."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from console_cases import KEY, PASSWORD, scanned_pdf, sign_in, submit
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples

NO = "AH-T0001-20261120-0001"
TEMPLATES = Path(__file__).parents[3] / "backend" / "console" / "templates"
# Fields one types free text into (a number, a choice or a box is not kept by autofill).
FREE_TEXT = {"text", "search", "email", "tel", "url"}
# What the sign-in and password forms' fields say instead, for a password manager.
CREDENTIALS = {"username", "current-password", "new-password"}


class Forms(HTMLParser):
    """The forms of a page (or a template's text) and the fields inside each."""

    def __init__(self, text: str):
        super().__init__()
        self.forms: list[tuple[dict[str, str | None], list[dict[str, str | None]]]] = []
        self._open = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.forms.append((dict(attrs), []))
            self._open = True
        elif tag in ("input", "textarea") and self._open:
            self.forms[-1][1].append({"tag": tag, **dict(attrs)})

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = False

    @staticmethod
    def free_text(field: dict[str, str | None]) -> bool:
        return field["tag"] == "textarea" or (field.get("type") or "text") in FREE_TEXT


def _problems(where: str, text: str) -> tuple[list[str], int]:
    """What is wrong with the forms of `text`, and how many free-text fields it has."""
    problems, seen = [], 0
    for form, fields in Forms(text).forms:
        typed = [f for f in fields if Forms.free_text(f)]
        seen += len(typed)
        what = f"{where}: form {form.get('action')}"
        if typed and all(f.get("autocomplete") in CREDENTIALS for f in typed):
            continue  # sign-in or a password change: its own tokens, checked below
        if typed and form.get("autocomplete") != "off":
            problems.append(f"{what} has no autocomplete=off")
        problems += [
            f"{what}: field {f.get('name')} has autocomplete={f.get('autocomplete')!r}"
            for f in typed
            if f.get("autocomplete") != "off"
        ]
    return problems, seen


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    submit(svc, NO, pdf=scanned_pdf())
    alarm = examples()["event.alarm"].model_copy(update={"message_id": m.new_message_id()})
    assert svc.ingest.handle_batch([(alarm.topic(), alarm.encode())]).stored == 1
    roles = ["clerk", "supervisor", "operator", "admin"]
    Accounts(svc.db).add("all.roles", roles, password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


def test_every_rendered_form_with_free_text_has_autocomplete_off(service):
    pages = [
        f"/console/applications/{NO}",
        f"/console/applications/{NO}?unmasked=true",
        "/console/queue",
        "/console/to-call",
        "/console/escalations",
        "/console/notices",
        "/console/statistics",
        "/console/terminal-staff",
        "/console/fleet",
        "/console/fleet/commands",
        "/console/fleet/terminals/T0001",
        "/console/fleet/terminals/T0001/commands",
        "/console/fleet/bundles",
        "/console/fleet/rollouts",
        "/console/catalog",
        "/console/catalog/items/new",
        "/console/catalog/items/HJ-0101",
    ]
    problems, seen = [], 0
    with TestClient(create_app(service)) as client:
        sign_in(client, "all.roles")
        for url in pages:
            page = client.get(url)
            assert page.status_code == 200, url
            found, count = _problems(url, page.text)
            problems += found
            seen += count
    assert seen >= 30  # the note fields, the fleet's reasons, the catalog's forms were all read
    assert problems == []


def test_every_template_form_with_free_text_has_autocomplete_off():
    """The same rule over the templates' text, for forms only some data shows (an alarm's
    note, a low rating's follow-up, a rollout's steering)."""
    problems, seen = [], 0
    for template in sorted(TEMPLATES.glob("*.html")):
        found, count = _problems(template.name, template.read_text(encoding="utf-8"))
        problems += found
        seen += count
    assert seen >= 35
    assert problems == []


def _fields(page: str) -> list[tuple[str | None, str | None]]:
    """(name, autocomplete) of each field of the page's forms one fills in."""
    return [
        (f.get("name"), f.get("autocomplete"))
        for _form, fields in Forms(page).forms
        for f in fields
        if f.get("type") != "hidden"
    ]


def test_sign_in_and_password_forms_keep_their_autocomplete_tokens(service):
    with TestClient(create_app(service)) as client:
        assert _fields(client.get("/console/login").text) == [
            ("username", "username"),
            ("password", "current-password"),
        ]
        sign_in(client, "all.roles")
        assert _fields(client.get("/console/password").text) == [
            ("current_password", "current-password"),
            ("new_password", "new-password"),
            ("repeat_password", "new-password"),
        ]
