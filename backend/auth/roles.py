"""Roles and the permissions each grants: every route names the permission it needs."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLERK = "clerk"  # 受理/审核: works the review queue
    SUPERVISOR = "supervisor"  # a clerk's work plus oversight (ratings, escalations)
    OPERATOR = "operator"  # the fleet: terminals, commands, ingest
    ADMIN = "admin"  # accounts and the dev SMS outbox


class Permission(StrEnum):
    READ_APPLICATIONS = "applications.read"
    VIEW_UNMASKED = "applicants.unmasked"  # the full ID number and phone, each view audited
    ACT_ON_APPLICATIONS = "applications.act"
    ASSIGN_CASES = "applications.assign"  # give a case to a clerk, take a claim back
    READ_ESCALATIONS = "escalations.read"
    READ_STATISTICS = "statistics.read"
    CLOSE_LOW_RATINGS = "ratings.close"  # record the follow-up of a low 好差评 score
    LOAD_RESULTS = "results.load"
    # Sign in at a terminal (one-time code): load results, collect deposited originals.
    TERMINAL_SERVICE = "terminal.service"
    READ_FLEET = "fleet.read"
    ACT_ON_ALARMS = "alarms.act"  # acknowledge and clear fleet alarms
    CONFIGURE_FLEET = "fleet.configure"  # push configuration bundles, roll them back
    READ_CATALOG = "catalog.read"  # the service catalog's items, versions and edit history
    EDIT_CATALOG = "catalog.edit"  # edit items in the draft, publish it as a bundle
    COMMAND_TERMINALS = "terminals.command"  # open a compartment, restart a kiosk, diagnostics
    READ_INGEST = "ingest.read"
    REPLAY_INGEST = "ingest.replay"  # feed a dead letter to ingest again
    READ_RATINGS = "ratings.read"
    READ_SMS_OUTBOX = "sms.read"
    FOLLOW_UP_SMS = "sms.follow_up"  # see whom an SMS did not reach, to call them
    MANAGE_STAFF = "staff.manage"
    # Who viewed which applicant in full or which scan, and when; told of a person viewing
    # far more than a working pace (backend/staff.py ViewLimits). Admins: not the viewers.
    READ_VIEW_AUDIT = "audit.views"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CLERK: frozenset(
        {
            Permission.READ_APPLICATIONS,
            Permission.ACT_ON_APPLICATIONS,
            Permission.LOAD_RESULTS,
            Permission.TERMINAL_SERVICE,
            Permission.FOLLOW_UP_SMS,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.READ_APPLICATIONS,
            Permission.VIEW_UNMASKED,
            Permission.ACT_ON_APPLICATIONS,
            Permission.ASSIGN_CASES,
            Permission.READ_ESCALATIONS,
            Permission.READ_STATISTICS,
            Permission.CLOSE_LOW_RATINGS,
            Permission.LOAD_RESULTS,
            Permission.TERMINAL_SERVICE,
            Permission.READ_RATINGS,
            Permission.READ_FLEET,
            Permission.READ_CATALOG,
            Permission.FOLLOW_UP_SMS,
        }
    ),
    Role.OPERATOR: frozenset(
        {
            Permission.READ_FLEET,
            Permission.ACT_ON_ALARMS,
            Permission.CONFIGURE_FLEET,
            Permission.READ_CATALOG,
            Permission.COMMAND_TERMINALS,
            Permission.READ_INGEST,
            Permission.REPLAY_INGEST,
        }
    ),
    Role.ADMIN: frozenset(
        {
            Permission.READ_FLEET,
            Permission.CONFIGURE_FLEET,
            Permission.READ_CATALOG,
            Permission.EDIT_CATALOG,
            Permission.READ_INGEST,
            Permission.READ_RATINGS,
            Permission.READ_STATISTICS,
            Permission.READ_SMS_OUTBOX,
            Permission.FOLLOW_UP_SMS,
            Permission.MANAGE_STAFF,
            Permission.READ_VIEW_AUDIT,
        }
    ),
}


def parse_roles(values: list[str] | tuple[str, ...]) -> list[Role]:
    """Roles from their names; an unknown name is a ValueError that lists the known ones."""
    known = {r.value: r for r in Role}
    out: list[Role] = []
    for value in values:
        role = known.get(value.strip())
        if role is None:
            raise ValueError(f"unknown role {value!r}; roles are {', '.join(known)}")
        if role not in out:
            out.append(role)
    if not out:
        raise ValueError("an account needs at least one role")
    return out


def permissions_of(roles: list[str]) -> frozenset[Permission]:
    """Every permission the given role names grant (unknown names grant nothing)."""
    granted: set[Permission] = set()
    for name in roles:
        if name in Role.__members__.values():
            granted |= GRANTS[Role(name)]
    return frozenset(granted)
