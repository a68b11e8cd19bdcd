"""What the root updater trusts, kept where only root writes: the backend's signing keys.

    /etc/allhours/update-trust.json     (root's, mode 0644)
        {"terminal_id": "T0001", "backend_signing_keys": ["<hex>", ...], "last_seq": 41}

The kiosk runs unprivileged and root installs what the kiosk asks for. If root took the kiosk's
word for what that is (a version and a SHA-256), a kiosk user taken over could have root install
and run a release of its choosing. So the kiosk hands root the update command exactly as the
backend signed it (terminal/software_update.py), and root installs nothing unless

- the signature holds for one of the keys in this file: not the kiosk's enrollment bundle,
  which the kiosk's user writes;
- the signed message is a `command.update_software` on this terminal's command topic, for this
  terminal (`decode_from` checks the topic against the payload);
- it has not expired;
- its sequence number is above the last one root acted on, so a genuine older command (an
  older release: a downgrade), kept back and handed over again, is refused.

Then root takes the version and the SHA-256 from the signed payload, records the sequence
number, and from then on trusts the backend keys that the command lists. That list is how a
key rotation reaches root: a command signed with the current key carries the announced next
one. The file is written by hand when the terminal is installed, after enrollment (`allhours
update trust --bundle …`, docs/deploy-terminal.md), and again the same way if a rotation went
through without a software update reaching this terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import signing
from provisioning.bundle import EnrollmentBundle, IdentityError, signing_keys
from provisioning.tls import write_private
from terminal.update import UpdateError
from terminal.update_health import read_small_json

TRUST_FILE = Path("/etc/allhours/update-trust.json")
TRUST_HINT = "run `allhours update trust --bundle …` as root (docs/deploy-terminal.md)"


@dataclass(frozen=True)
class UpdateTrust:
    """This terminal's id, the backend keys root checks update commands against, and the
    sequence number of the last update command root acted on."""

    terminal_id: str
    backend_keys: tuple[str, ...]
    last_seq: int = 0

    # ---------------------------------------------------------------- the file

    @classmethod
    def load(cls, path: Path) -> UpdateTrust:
        """The trust in `path`; UpdateError saying what to do when there is none or it is
        damaged (nothing is installed then)."""
        data, problem = read_small_json(path)
        if data is None and problem is None:
            raise UpdateError(
                f"the updater trusts no backend key yet ({path} is missing): {TRUST_HINT}"
            )
        try:
            if problem is not None or not isinstance(data, dict):
                raise ValueError(problem or "not a JSON object")
            terminal_id, seq = data.get("terminal_id"), data.get("last_seq", 0)
            if not isinstance(terminal_id, str) or not terminal_id:
                raise ValueError("terminal_id is not a string")
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
                raise ValueError("last_seq is not a number")
            return cls(terminal_id, signing_keys(data.get("backend_signing_keys")), seq)
        except ValueError as exc:
            raise UpdateError(f"{path} is damaged ({exc}): {TRUST_HINT}") from None

    @classmethod
    def from_bundle(cls, bundle_file: Path, before: UpdateTrust | None = None) -> UpdateTrust:
        """The trust a technician takes over from the terminal's enrollment bundle; the last
        sequence number is kept when the terminal stays the same."""
        try:
            bundle = EnrollmentBundle.from_json(json.loads(Path(bundle_file).read_bytes()))
        except (OSError, ValueError, RecursionError) as exc:
            raise UpdateError(f"{bundle_file}: not an enrollment bundle ({exc})"[:300]) from None
        except IdentityError as exc:
            raise UpdateError(f"{bundle_file}: {exc}") from None
        seq = before.last_seq if before and before.terminal_id == bundle.terminal_id else 0
        return cls(bundle.terminal_id, bundle.backend_signing_keys, seq)

    def save(self, path: Path) -> None:
        """Written atomically, readable by all (public keys), writable by root only."""
        text = json.dumps(
            {
                "terminal_id": self.terminal_id,
                "backend_signing_keys": list(self.backend_keys),
                "last_seq": self.last_seq,
            },
            indent=2,
        )
        write_private(path, text.encode(), mode=0o644)

    # ---------------------------------------------------------------- a command

    def check(self, signed: object, now: datetime) -> tuple[m.UpdateSoftware, UpdateTrust]:
        """The update command the kiosk handed over (`SignedDownstream.to_json()`), checked as
        the module says, and the trust to keep once it is acted on; UpdateError saying why
        not."""
        try:
            message = signing.SignedDownstream.from_json(signed)
            message.verify(signing.BackendKeys(self.backend_keys))
        except signing.SignatureError as exc:
            raise UpdateError(
                f"the update command is not signed by a backend key this updater trusts "
                f"({exc}); if the backend's key was rotated, {TRUST_HINT}"
            ) from None
        try:
            command = m.decode_from(message.topic, message.payload)
        except m.MalformedMessage as exc:
            raise UpdateError(f"the signed command is malformed: {exc.reason}"[:300]) from None
        if not isinstance(command, m.UpdateSoftware):
            raise UpdateError(f"the signed command is {command.type}, not an update")
        if command.terminal_id != self.terminal_id:
            raise UpdateError(f"the signed command is for {command.terminal_id}, not this terminal")
        if command.expired(now):
            raise UpdateError(
                f"the update command expired at {command.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        if message.seq <= self.last_seq:
            raise UpdateError(
                f"the update command's sequence number {message.seq} is not newer than the last "
                f"one acted on ({self.last_seq}): an older command handed over again"
            )
        keys = tuple(command.backend_keys) or self.backend_keys
        return command, replace(self, backend_keys=keys, last_seq=message.seq)


def claimed(signed: object) -> tuple[str, str | None]:
    """The version and operation id a command handed over claims, read without checking it:
    only to name a refused one in the outcome the kiosk reports (it could report anything)."""
    payload = signed.get("payload") if isinstance(signed, dict) else None
    try:
        data = json.loads(payload) if isinstance(payload, str) else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return "unknown", None
    version, operation = data.get("version"), data.get("operation_id")
    return (
        version[:40] if isinstance(version, str) and version else "unknown",
        operation[:64] if isinstance(operation, str) and operation else None,
    )
