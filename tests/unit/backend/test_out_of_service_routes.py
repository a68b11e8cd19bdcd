"""Out of service and back in service through the API: operators only, a reason from the list,
every refusal clear and nothing recorded on refusal, the signed command as the terminal gets it."""

from __future__ import annotations

import pytest
from backend_unit_factories import KEY, TERMINAL
from sqlalchemy import func, select

from backend.models import CommandRow
from backend.operator_commands import OPERATOR_TTL, SERVICE_TTL
from backend.service import BackendService
from cloud_bridge.contract import messages as m

URL = f"/api/fleet/terminals/{TERMINAL}/commands"
OUT = {
    "command": "out_of_service",
    "service_reason": "maintenance",
    "reason": "printer swap",
}


@pytest.fixture
def service(tmp_path):
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    svc.register_terminal(TERMINAL, KEY)
    yield svc
    svc.stop()


def _rows(service) -> list[CommandRow]:
    with service.db.transaction() as s:
        rows = list(s.scalars(select(CommandRow)))
        s.expunge_all()
        return rows


def _count(service) -> int:
    with service.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(CommandRow))


def test_only_operators_take_a_terminal_out_of_service(client, tokens, service):
    assert client.post(URL, json=OUT).status_code == 401
    for role in ("clerk", "supervisor", "admin"):
        r = client.post(URL, json=OUT, headers=tokens[role])
        assert (r.status_code, r.json().get("reason")) == (403, "terminals.command"), role
    assert _count(service) == 0


def test_the_signed_command_carries_scope_hold_reason_and_note(client, tokens, service):
    r = client.post(URL, json=OUT, headers=tokens["operator"])
    assert r.status_code == 202, r.text
    body = OUT | {"compartment_id": "A03", "hold": "locked", "service_reason": "security"}
    assert client.post(URL, json=body, headers=tokens["operator"]).status_code == 202
    back = {"command": "back_in_service", "service_reason": "repaired", "reason": "new printer"}
    assert client.post(URL, json=back, headers=tokens["operator"]).status_code == 202
    rows = sorted(_rows(service), key=lambda row: row.created_at)
    whole, one, again = (m.BY_TYPE[row.type].model_validate(row.payload) for row in rows)
    assert isinstance(whole, m.OutOfService) and whole.compartment_id is None
    assert (whole.hold, whole.reason, whole.note) == ("closed", "maintenance", "printer swap")
    assert (one.compartment_id, one.hold, one.reason) == ("A03", "locked", "security")
    assert isinstance(again, m.BackInService) and (again.reason, again.note) == (
        "repaired",
        "new printer",
    )
    assert [row.issued_by for row in rows] == ["operator.one"] * 3
    # Kept for a terminal that is away for the day, unlike a restart or an opening.
    lives = rows[0].expires_at - rows[0].created_at
    assert abs(lives - SERVICE_TTL).total_seconds() < 60 and SERVICE_TTL > OPERATOR_TTL
    shown = client.get(URL, headers=tokens["supervisor"]).json()
    assert {r["type"] for r in shown} == {"command.out_of_service", "command.back_in_service"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"command": "out_of_service", "reason": "x"}, "needs a service_reason"),
        ({"command": "back_in_service", "reason": "x"}, "needs a service_reason"),
        (OUT | {"service_reason": "bored"}, "service_reason"),
        (OUT | {"hold": "sealed"}, "hold"),
        (OUT | {"reason": ""}, "reason"),
        ({k: v for k, v in OUT.items() if k != "reason"}, "reason"),
        (OUT | {"reason": "x" * 201}, "200"),
        (OUT | {"compartment_id": "A 1"}, "pattern"),
        (
            {
                "command": "back_in_service",
                "service_reason": "repaired",
                "reason": "x",
                "hold": "locked",
            },
            "takes no hold",
        ),
        ({"command": "restart_kiosk", "reason": "x", "service_reason": "cleaning"}, "takes no"),
        (OUT | {"extra": 1}, "extra"),
    ],
)
def test_a_bad_service_command_is_refused_clearly_and_nothing_is_sent(
    client, tokens, service, body, words
):
    r = client.post(URL, json=body, headers=tokens["operator"])
    assert r.status_code == 422 and words in r.text, r.text
    assert _count(service) == 0


def test_out_of_service_for_an_unknown_terminal_is_404(client, tokens, service):
    r = client.post("/api/fleet/terminals/T0999/commands", json=OUT, headers=tokens["operator"])
    assert r.status_code == 404 and _count(service) == 0
