"""Brings a running broker's dynamic-security state in line with the registry, over MQTT.

It connects as `backend.control` (a certificate of the site CA whose role may use only the
plugin's control topic), lists the clients the broker knows, creates the missing ones and
deletes those no longer admitted. Deleting a client disconnects it at once.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
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


class BrokerControlError(RuntimeError):
    """The broker could not be reached or refused a control command."""


class BrokerControl:
    """One short control session with one broker."""

    def __init__(self, host: str, port: int, tls: ClientTls, timeout: float = 10.0):
        self.host, self.port, self.tls, self.timeout = host, port, tls, timeout
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._arrived = threading.Condition()
        self._subscribed = threading.Event()

    def sync(self, roles: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[str]]:
        """Admit every identity in `roles` and remove the others; returns (added, removed)."""
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
            known = set(self._run(client, [{"command": "listClients"}])[0]["data"]["clients"])
            wanted = {name.removeprefix("id:") for name in roles}
            added = sorted(wanted - known)
            removed = sorted(known - wanted)
            commands: list[dict[str, Any]] = []
            for cn in added:
                name = role_name(cn)
                commands.append({"command": "deleteRole", "rolename": name})
                commands.append({"command": "createRole", "rolename": name, "acls": roles[name]})
                commands.append(
                    {"command": "createClient", "username": cn, "roles": [{"rolename": name}]}
                )
            for cn in removed:
                commands.append({"command": "deleteClient", "username": cn})
                commands.append({"command": "deleteRole", "rolename": role_name(cn)})
            for start in range(0, len(commands), BATCH):
                batch = commands[start : start + BATCH]
                for answer, command in zip(self._run(client, batch), batch, strict=True):
                    error = answer.get("error")
                    if error and command["command"] != "deleteRole":
                        raise BrokerControlError(f"{command['command']} refused: {error}")
            return added, removed
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
