"""Who may do what at the broker, generated from the registry and the wire contract.

The broker enforces it with Mosquitto's dynamic-security plugin, not a static ACL file: the
plugin refuses a forbidden SUBSCRIBE outright (an ACL file grants it and drops deliveries, so a
terminal joining the backend's shared group would swallow messages), and it disconnects a client
the moment it is deleted, which is what revocation needs (ADR 0006).

Each identity has one role of its own. A terminal publishes only the contract's upstream topics
under its own id, each by its literal name, and subscribes only to its own downstream ones; a
backend worker reads every terminal's upstream (plain or through the shared ingest group) and
publishes downstream; `backend.control` may only talk to the plugin's control topic. Anything
not allowed is denied.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

CONTROL_IDENTITY = "backend.control"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE = f"{CONTROL_TOPIC}/response"
DENY_ALL = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}


def _acl(kind: str, topic: str) -> dict[str, Any]:
    return {"acltype": kind, "topic": topic, "priority": 0, "allow": True}


def role_name(cn: str) -> str:
    return f"id:{cn}"


def upstream_topics(terminal_id: str) -> list[str]:
    """Every topic a message type of the contract puts a terminal's upstream on, in order.

    Taken from the message types' own `topic()`, so an event type added to the contract is
    granted with it. No wildcard: under `events/+` a stolen certificate retained a message on each
    of thousands of made-up event names, all kept by the broker and handed to every new backend
    subscription.
    """
    found = (
        cls.model_construct(terminal_id=terminal_id).topic()
        for cls in m.ALL_TYPES
        if cls.channel in topics.UPSTREAM
    )
    return list(dict.fromkeys(found))


def terminal_acls(terminal_id: str) -> list[dict[str, Any]]:
    """One terminal: its own upstream out, its own downstream in."""
    acls = [_acl("publishClientSend", topic) for topic in upstream_topics(terminal_id)]
    for channel in topics.DOWNSTREAM:
        topic = topics.terminal_topic(terminal_id, channel)
        acls += [_acl("subscribeLiteral", topic), _acl("publishClientReceive", topic)]
    return acls


def backend_acls() -> list[dict[str, Any]]:
    """A backend worker: every upstream filter, shared or plain, in; downstream out."""
    acls = []
    for plain, shared in zip(
        topics.backend_subscriptions(None),
        topics.backend_subscriptions(topics.SHARED_GROUP),
        strict=True,
    ):
        acls += [
            _acl("subscribePattern", plain),
            _acl("subscribePattern", shared),
            _acl("publishClientReceive", plain),
        ]
    for channel in topics.DOWNSTREAM:
        acls.append(_acl("publishClientSend", f"{topics.ROOT}/terminals/+/{channel}"))
    return acls


def control_acls() -> list[dict[str, Any]]:
    return [
        _acl("publishClientSend", CONTROL_TOPIC),
        _acl("subscribeLiteral", CONTROL_RESPONSE),
        _acl("publishClientReceive", CONTROL_RESPONSE),
    ]


def desired_roles(terminals: Iterable[str], backends: Iterable[str]) -> dict[str, list[dict]]:
    """Role name -> ACL entries, for every identity that may connect (control included)."""
    roles = {role_name(CONTROL_IDENTITY): control_acls()}
    for cn in backends:
        if cn != CONTROL_IDENTITY:
            roles[role_name(cn)] = backend_acls()
    for cn in terminals:
        roles[role_name(cn)] = terminal_acls(cn)
    return roles


def dynsec_config_from(roles: dict[str, list[dict]]) -> dict[str, Any]:
    """The plugin's whole configuration file, for a broker that is not running yet."""
    return {
        "defaultACLAccess": DENY_ALL,
        "clients": [
            {"username": name.removeprefix("id:"), "roles": [{"rolename": name}]} for name in roles
        ],
        "groups": [],
        "roles": [{"rolename": name, "acls": acls} for name, acls in roles.items()],
    }
