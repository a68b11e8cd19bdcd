"""Commands handed to a terminal in-process, as its link would after checking the signature."""

from __future__ import annotations

from cloud_bridge.contract import messages as m


def deliver(node, command: m.Message) -> m.CommandAck | None:
    """Dispatch `command` with the next sequence number, as the backend would have signed it."""
    return node.dispatcher.dispatch(command, node.dispatcher.last_seq() + 1)
