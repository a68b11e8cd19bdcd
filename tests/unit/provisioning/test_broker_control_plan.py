"""The control commands a sync sends, planned from what the broker lists (no broker needed)."""

from __future__ import annotations

from provisioning.broker_access import desired_roles, terminal_acls
from provisioning.broker_control import BATCH, _batches, _grants, _plan


def _broker_holding(roles: dict[str, list[dict]]):
    """The client links and role grants a broker lists when it holds `roles` as wanted."""
    links = {name.removeprefix("id:"): {name} for name in roles}
    grants = {name: _grants(acls) for name, acls in roles.items()}
    return links, grants


def test_a_broker_already_in_line_gets_no_command():
    roles = desired_roles(["T0001", "T0002"], ["backend.1"])
    changes, groups = _plan(roles, set(), *_broker_holding(roles))

    assert groups == []
    assert not changes


def test_a_role_with_other_grants_is_swapped_whole_by_modify_role():
    roles = desired_roles(["T0001"], [])
    links, grants = _broker_holding(roles)
    grants["id:T0001"] = _grants(terminal_acls("T0001")[1:])  # one grant short

    changes, groups = _plan(roles, set(), links, grants)

    assert groups == [
        [{"command": "modifyRole", "rolename": "id:T0001", "acls": terminal_acls("T0001")}]
    ]
    assert changes.updated == ["T0001"] and not changes.renewed


def test_a_renewed_terminal_is_deleted_and_made_again_with_its_role_in_one_group():
    roles = desired_roles(["T0001", "T0002"], [])
    links, grants = _broker_holding(roles)
    links["T0001"] = set()  # its role link lost: the client made again carries it

    changes, groups = _plan(roles, {"T0001", "T9999"}, links, grants)

    assert groups == [
        [
            {"command": "deleteClient", "username": "T0001"},
            {"command": "createClient", "username": "T0001", "roles": [{"rolename": "id:T0001"}]},
        ]
    ]
    assert changes.renewed == ["T0001"]  # T9999 is not known there: nothing to end


def test_batches_never_split_a_group():
    groups = [[{"n": f"{g}.{i}"} for i in range(size)] for g, size in enumerate([3, 2] * 40)]

    batches = list(_batches(groups))

    assert all(len(batch) <= BATCH for batch in batches)
    assert [c for batch in batches for c in batch] == [c for group in groups for c in group]
    where = {c["n"]: b for b, batch in enumerate(batches) for c in batch}
    assert all(len({where[c["n"]] for c in group}) == 1 for group in groups)
