"""The console's rollout pages: groups, a software rollout started, steered and read."""

from __future__ import annotations

import pytest
from console_cases import KEY, PASSWORD, csrf_of, sign_in
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.service import BackendService

SHA = "ef" * 32


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "blobs", broker_port=None)
    for t in ("T0001", "T0002", "T0003"):
        svc.register_terminal(t, KEY)
    accounts = Accounts(svc.db)
    for name, roles in (("op.zhao", ["operator"]), ("sup.wu", ["supervisor"])):
        accounts.add(name, roles, password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def test_an_operator_makes_groups_starts_a_rollout_and_pauses_it(client):
    assert client.get("/console/fleet/rollouts", follow_redirects=False).status_code in (303, 401)
    sign_in(client, "op.zhao")
    page = client.get("/console/fleet/rollouts")
    assert page.status_code == 200 and "分批发布" in page.text
    assert 'data-testid="no-rollouts"' in page.text
    csrf = csrf_of(page.text)

    group = {"name": "pilot", "description": "两个网点", "add": "T0001 T0002"}
    assert client.post("/console/fleet/rollouts/groups", data=group).status_code == 403  # no CSRF
    r = client.post("/console/fleet/rollouts/groups", data={**group, "csrf_token": csrf})
    assert r.status_code == 200 and "分组已保存" in r.text
    assert 'data-testid="group-pilot"' in r.text and "T0001, T0002" in r.text
    bad = {"name": "pilot", "add": "T0009", "csrf_token": csrf}
    r = client.post("/console/fleet/rollouts/groups", data=bad)
    assert r.status_code == 422 and "unknown terminal(s): T0009" in r.text

    start = {
        "version": "0.2.0",
        "archive_url": "https://rel.example/allhours-0.2.0.tar.gz",
        "sha256": SHA,
        "size_bytes": "4096",
        "stages": "pilot all",
        "abort_failed": "1",
        "abort_percent": "50",
        "csrf_token": csrf,
    }
    r = client.post("/console/fleet/rollouts", data={**start, "archive_url": "http://x/a"})
    assert r.status_code == 422 and "https" in r.text
    r = client.post("/console/fleet/rollouts", data=start)
    assert r.status_code == 200 and "发布 1" in r.text
    assert "第 1 批，共 2 批" in r.text and "中止条件：失败 1 台或 50%" in r.text
    assert r.text.count("已发送") == 2 and "等待前一批" in r.text  # T0003 in "all"

    r = client.post(
        "/console/fleet/rollouts/1/actions", data={"action": "pause", "csrf_token": csrf}
    )
    assert r.status_code == 422 and "请填写原因" in r.text
    r = client.post(
        "/console/fleet/rollouts/1/actions",
        data={"action": "pause", "reason": "网点停电", "csrf_token": csrf},
    )
    assert r.status_code == 200 and "已暂停" in r.text and "op.zhao · 已暂停: 网点停电" in r.text
    assert 'data-testid="resume"' in r.text


def test_a_supervisor_reads_the_rollouts_but_has_no_forms(client):
    sign_in(client, "sup.wu")
    page = client.get("/console/fleet/rollouts")
    assert page.status_code == 200
    assert 'data-testid="start-form"' not in page.text
    assert 'data-testid="group-form"' not in page.text
    csrf = csrf_of(page.text)
    r = client.post("/console/fleet/rollouts/groups", data={"name": "pilot", "csrf_token": csrf})
    assert r.status_code == 403
    assert client.get("/console/fleet/rollouts/7").status_code == 404
