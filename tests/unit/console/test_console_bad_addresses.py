"""Query strings, path values and form values the console did not send get what they deserve.

Each of these answered 500: an unknown `?done=` on the case page (its wording was looked up and
missing), a number past the database's ids (SQLite overflows on a 20-digit integer, PostgreSQL
on a 32-bit one) on the material viewer, the rollout pages and a catalog version's push, and a
400-digit abort share when starting a rollout (too big for a float).
"""

from __future__ import annotations

import pytest
from console_cases import KEY, PASSWORD, csrf_of, scanned_pdf, sign_in, submit
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.models import Material
from backend.rollout_tables import Rollout
from backend.service import BackendService
from backend.staff import ACTIONS

NO = "AH-T0001-20261120-0001"
# Past the 32-bit ids (PostgreSQL's INTEGER), past SQLite's 64-bit integers, and far past both.
TOO_BIG = (2**31, 2**63, 10**20, 9999999999999999999999999)


@pytest.fixture
def service(tmp_path, database_url):
    svc = BackendService(database_url, tmp_path / "blobs", broker_port=None)
    svc.register_terminal("T0001", KEY)
    submit(svc, NO, pdf=scanned_pdf())
    accounts = Accounts(svc.db)
    for name, roles in (("clerk.li", ["clerk"]), ("op.zhao", ["operator"]), ("adm.qi", ["admin"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def test_an_unknown_done_shows_the_case_without_a_notice(client):
    sign_in(client, "clerk.li")
    for done in ("x", "resend_code", "return", "<script>", "9" * 30, ""):
        r = client.get(f"/console/applications/{NO}", params={"done": done})
        assert r.status_code == 200 and 'data-testid="done"' not in r.text, done
    for done in ACTIONS:
        if done not in ("resend_code", "return"):  # the form never sends these
            r = client.get(f"/console/applications/{NO}", params={"done": done})
            assert r.status_code == 200 and 'data-testid="done"' in r.text, done


def test_a_material_id_past_the_database_is_404_like_an_unknown_one(service, client):
    sign_in(client, "clerk.li")
    with service.db.reading() as session:
        known = session.scalars(select(Material.id)).one()
    base = f"/console/applications/{NO}/materials"
    assert client.get(f"{base}/{known}").status_code == 200
    assert client.get(f"{base}/{known}/pages/1.png").status_code == 200
    for material_id in (known + 1, 0, -1, *TOO_BIG):
        viewer = client.get(f"{base}/{material_id}")
        assert viewer.status_code == 404 and "<html" in viewer.text, material_id
        assert client.get(f"{base}/{material_id}/pages/1.png").status_code == 404, material_id


def test_a_rollout_id_past_the_database_is_404_like_an_unknown_one(service, client):
    sign_in(client, "op.zhao")
    csrf = csrf_of(client.get("/console/fleet/rollouts").text)
    for rollout_id in (1, 0, *TOO_BIG):  # there is no rollout yet
        page = client.get(f"/console/fleet/rollouts/{rollout_id}")
        assert page.status_code == 404 and f"没有发布 {rollout_id}" in page.text
        for form in (
            {"action": "pause", "reason": "网点停电"},
            {"action": "pause"},  # no reason: the form again, but there is no rollout to show
            {"action": "jump", "reason": "x"},
        ):
            r = client.post(
                f"/console/fleet/rollouts/{rollout_id}/actions", data=form | {"csrf_token": csrf}
            )
            assert r.status_code == 404 and f"没有发布 {rollout_id}" in r.text, (rollout_id, form)


def test_an_abort_share_outside_1_to_100_is_a_form_error(service, client):
    sign_in(client, "op.zhao")
    start = {
        "version": "0.2.0",
        "archive_url": "https://rel.example/allhours-0.2.0.tar.gz",
        "sha256": "ef" * 32,
        "size_bytes": "4096",
        "stages": "all",
        "csrf_token": csrf_of(client.get("/console/fleet/rollouts").text),
    }
    for percent in ("9" * 400, "-" + "9" * 400, "0", "101", "-5"):
        r = client.post("/console/fleet/rollouts", data=start | {"abort_percent": percent})
        assert r.status_code == 422 and "中止比例须为 1 到 100" in r.text, percent[:5]
    with service.db.reading() as session:
        assert session.scalars(select(Rollout)).first() is None  # nothing was started
    r = client.post("/console/fleet/rollouts", data=start | {"abort_percent": "100"})
    assert r.status_code == 200 and "中止条件：失败 1 台或 100%" in r.text


def test_pushing_a_catalog_version_past_the_database_is_404_like_an_unknown_one(client):
    sign_in(client, "adm.qi")
    csrf = csrf_of(client.get("/console/catalog").text)
    for number in (5, 0, *TOO_BIG):  # nothing is published yet
        r = client.post(
            f"/console/catalog/versions/{number}/push",
            data={"csrf_token": csrf, "target": "all"},
            follow_redirects=False,
        )
        assert r.status_code == 404 and f"no published version {number}" in r.text, number


@pytest.mark.parametrize(
    "who, path",
    [
        ("clerk.li", "/console/nope"),  # no such page
        ("op.zhao", "/console/fleet/terminals/%2F.."),
        ("op.zhao", "/console/fleet/rollouts/abc"),  # a value the route cannot take: a 422
        ("clerk.li", f"/console/applications/{NO}/materials/abc"),
    ],
)
def test_an_address_that_names_no_page_shows_the_consoles_not_found_page(client, who, path):
    # These answered FastAPI's JSON ({"detail": "Not Found"}, or the schema's errors for a path
    # value): a person following an old or mistyped link saw a program's answer, not a page.
    sign_in(client, who)
    r = client.get(path)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), r.text
    assert "<title>未找到" in r.text and 'href="/console/queue"' in r.text


def test_the_api_and_a_strangers_console_address_keep_their_answers(client):
    assert client.get("/console/fleet/rollouts/abc", follow_redirects=False).status_code == 303
    sign_in(client, "op.zhao")
    r = client.get("/api/applications/NOPE/nope")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = client.get("/api/fleet/rollouts/abc")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "rollout_id"]
    asset = client.get("/console/static/nope.js")
    assert asset.status_code == 404 and asset.headers["content-type"] == "application/json"
