"""Plain paho clients for tests that play a peer on the wire, with a certificate of the site."""

from __future__ import annotations

import paho.mqtt.client as mqtt

from allhours.broker import PrivateMosquitto
from provisioning.authority import TERMINAL
from provisioning.tls import ClientTls


def tls_client(
    broker: PrivateMosquitto,
    cn: str,
    role: str = TERMINAL,
    *,
    files: ClientTls | None = None,
    **kwargs,
) -> mqtt.Client:
    """An MQTT 5 client (not yet connected) holding a certificate for `cn` from the site CA."""
    files = files or broker.client_tls(cn, role)
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=kwargs.pop("client_id", cn),
        protocol=mqtt.MQTTv5,
        **kwargs,
    )
    client.tls_set_context(files.context())
    return client
