"""Brings a running broker's dynamic-security state in line with the registry, over MQTT.

It connects as `backend.control` (a certificate of the site CA whose role may use only the
plugin's control topic), reads the clients and roles the broker knows, creates the missing ones,
deletes those no longer admitted and gives every role it keeps the grants the registry wants.
Deleting a client disconnects it at once.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from .broker_access import CONTROL_RESPONSE, CONTROL_TOPIC, role_name
from .tls import ClientTls

log = logging.getLogger(__name__)

# Commands per control message. The plugin rewrites its whole configuration file after every
# change, so one message admitting a thousand terminals kept it busy past any sensible wait
# (400 terminals in one message: no answer within 10 s, and the terminals stayed unadmitted).
# In batches, each answer comes within the timeout and the work is seen to progress.
BATCH = 60

# Errors that leave the broker as wanted: a role deleted before it is made again may not exist.
_HARMLESS = {("deleteRole", "Role not found")}


class BrokerControlError(RuntimeError):
    """The broker could not be reached or refused a control command."""


@dataclass(frozen=True)
class BrokerChanges:
    """What one control session changed at a broker, by username."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Known clients whose role was given the registry's grants, or linked again to its client.
    updated: list[str] = field(default_factory=list)
    # Known clients deleted and made again in one message: their connection ends at once.
    renewed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.updated or self.renewed)


def _grants(acls: list[dict[str, Any]]) -> set[tuple[str, str, int, bool]]:
    """ACL entries as the plugin keeps them, to compare the broker's with the wanted ones."""
    return {
        (a["acltype"], a["topic"], int(a.get("priority", 0)), bool(a.get("allow", False)))
        for a in acls
    }


class BrokerControl:
    """One short control session with one broker."""

    def __init__(self, host: str, port: int, tls: ClientTls, timeout: float = 10.0):
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._arrived = threading.Condition()
        self._subscribed = threading.Event()

    def sync(
        self, roles: dict[str, list[dict[str, Any]]], renew: Collection[str] = ()
    ) -> BrokerChanges:
        """Admit every identity in `roles` with exactly its grants and remove the others.

        Each username in `renew` that the broker knows is deleted and made again, which ends
        its connection: a re-enrolled terminal's old device is cut off at once, and the new one
        may connect.
        """
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"control-{secrets.token_hex(4)}",
            protocol=mqtt.MQTTv5,
        )
        client.tls_set_context(self.tls.context())
        client.on_message = self._on_message
        client.on_subscribe = lambda *_: self._subscribed.set()
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise BrokerControlError(f"broker {self.host}:{self.port} unreachable: {exc}") from exc
        client.loop_start()
        try:
            client.subscribe(CONTROL_RESPONSE, qos=1)
            if not self._subscribed.wait(self.timeout):
                raise BrokerControlError("the broker did not accept the control subscription")
            # Both lists in one message, so they describe the same moment. Verbose, 5000
            # terminals' roles are 12 MB, answered in 0.25 s: about what the plugin writes to
            # its file for every single change.
            listed = self._run(
                client,
                [
                    {"command": "listClients", "verbose": True},
                    {"command": "listRoles", "verbose": True},
                ],
            )
            for answer in listed:
                if answer.get("error"):
                    raise BrokerControlError(f"{answer.get('command')} refused: {answer['error']}")
            clients, held = listed[0]["data"]["clients"], listed[1]["data"]["roles"]
            links = {c["username"]: {r["rolename"] for r in c.get("roles", [])} for c in clients}
            grants = {r["rolename"]: _grants(r.get("acls", [])) for r in held}
            changes, groups = _plan(roles, set(renew), links, grants)
            for batch in _batches(groups):
                for answer, command in zip(self._run(client, batch), batch, strict=True):
                    error = answer.get("error")
                    if error and (command["command"], error) not in _HARMLESS:
                        raise BrokerControlError(f"{command['command']} refused: {error}")
            return changes
        finally:
            client.disconnect()
            client.loop_stop()

    def _run(self, client: mqtt.Client, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        tag = secrets.token_hex(8)
        for n, command in enumerate(commands):
            command["correlationData"] = f"{tag}-{n}"
        client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        wanted = {c["correlationData"] for c in commands}
        with self._arrived:
            ok = self._arrived.wait_for(lambda: wanted <= self._answers.keys(), self.timeout)
            if not ok:
                raise BrokerControlError("the broker did not answer the control commands")
            return [self._answers.pop(c["correlationData"]) for c in commands]

    def _on_message(self, _client, _userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable control response from the broker")
            return
        with self._arrived:
            for response in responses:
                if isinstance(response, dict) and "correlationData" in response:
                    self._answers[response["correlationData"]] = response
            self._arrived.notify_all()


def _batches(groups: list[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    """Groups packed into messages of at most `BATCH` commands, never split (see `_plan`)."""
    batch: list[dict[str, Any]] = []
    for group in groups:
        if batch and len(batch) + len(group) > BATCH:
            yield batch
            batch = []
        batch += group
    if batch:
        yield batch


def _plan(
    roles: dict[str, list[dict[str, Any]]],
    renew: set[str],
    links: dict[str, set[str]],
    grants: dict[str, set[tuple[str, str, int, bool]]],
) -> tuple[BrokerChanges, list[list[dict[str, Any]]]]:
    """The changes, and the commands making them, in groups that must go in one message.

    The plugin carries out one message in full before it reads any other packet, so a group
    leaves no moment between its commands: no terminal without its grants, no old device
    reconnecting between the deletion of its client and the client made again.
    """
    wanted = {name.removeprefix("id:") for name in roles}
    added, removed, updated, renewed = [], [], [], []
    groups: list[list[dict[str, Any]]] = []
    for cn in sorted(wanted - links.keys()):
        name = role_name(cn)
        added.append(cn)
        groups.append(
            [
                {"command": "deleteRole", "rolename": name},
                {"command": "createRole", "rolename": name, "acls": roles[name]},
                {"command": "createClient", "username": cn, "roles": [{"rolename": name}]},
            ]
        )
    for cn in sorted(wanted & links.keys()):
        name = role_name(cn)
        fixes: list[dict[str, Any]] = []
        if name not in grants:
            fixes.append({"command": "createRole", "rolename": name, "acls": roles[name]})
        elif grants[name] != _grants(roles[name]):
            # In Mosquitto 2.0.11 addRoleACL and removeRoleACL each disconnect every client of
            # the role; modifyRole swaps the whole list at once and disconnects no one.
            fixes.append({"command": "modifyRole", "rolename": name, "acls": roles[name]})
        cut: list[dict[str, Any]] = []
        if cn in renew:  # the client made again carries its role link
            cut = [
                {"command": "deleteClient", "username": cn},
                {"command": "createClient", "username": cn, "roles": [{"rolename": name}]},
            ]
            renewed.append(cn)
        elif name not in links[cn]:
            fixes.append({"command": "addClientRole", "username": cn, "rolename": name})
        if fixes:
            updated.append(cn)
        if fixes or cut:
            groups.append(fixes + cut)
    for cn in sorted(links.keys() - wanted):
        removed.append(cn)
        groups.append(
            [
                {"command": "deleteClient", "username": cn},
                {"command": "deleteRole", "rolename": role_name(cn)},
            ]
        )
    changes = BrokerChanges(added, removed, updated, renewed)
    return changes, groups
