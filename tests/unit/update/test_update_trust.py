"""Root installs only what the backend signed: the updater checks the command itself.

The kiosk runs unprivileged; `allhours update run-request` runs as root and reads what the
kiosk's user writes. A kiosk user taken over must not get root to install a release of its
choosing: every request here is written as that user could write it, with real Ed25519
signatures (of the backend, of an attacker) over real payloads, and root's trust file is the
one `allhours update trust` writes (terminal/update_trust.py).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from signed_updates import Backend, tar_bytes

from allhours.cli import main
from allhours.commands.update import run_request
from cloud_bridge.contract import messages as m
from provisioning.bundle import EnrollmentBundle
from terminal.update import HeldDirectory, Releases, Updater
from terminal.update_trust import UpdateTrust


def _archive(path: Path, version: str) -> str:
    """A release tarball at `path` (what an attacker would have root run); its SHA-256."""
    data = tar_bytes({"bin/kiosk": f"print('release {version}')\n".encode()})
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


class Box:
    """Release 1.0 installed and current, root's trust in `backend`, the kiosk's directory."""

    def __init__(self, tmp_path: Path, backend: Backend):
        self.tmp, self.backend = tmp_path, backend
        self.releases = Releases(tmp_path / "opt")
        (tmp_path / "build").mkdir()
        self.releases.install_tree(tmp_path / "build", "1.0")
        self.releases.point("current", "1.0")
        self.restarts = 0
        # Every case here is refused before a switch, or asks for the version running.
        self.updater = Updater(self.releases, tmp_path, self._restart, health_timeout_s=1)
        self.update = tmp_path / "update"
        self.update.mkdir()
        self.trust_file = backend.trusted_by(tmp_path / "trust.json")

    def _restart(self) -> None:
        self.restarts += 1

    def run(self, asked: dict) -> tuple[int, dict]:
        request = self.update / "request.json"
        request.write_text(json.dumps(asked))
        code = run_request(request, self.releases, self.updater, self.trust_file)
        assert not request.exists()
        return code, json.loads((self.update / "outcome.json").read_text())

    def trust(self) -> UpdateTrust:
        return UpdateTrust.load(self.trust_file)


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path, Backend())


def _forged(box: Box, how: str) -> dict:
    """A request for release 6.6 (the attacker's archive, its true SHA-256) that the backend
    never signed as such."""
    archive = box.update / "allhours-6.6.tar.gz"
    sha = _archive(archive, "6.6")
    if how == "another-key":  # its own key: what it could also write into the kiosk's bundle
        return Backend().request(archive, "6.6", sha)
    genuine = box.backend.request(archive, "1.0", "0" * 64)
    signed = genuine["command"]
    if how == "payload-altered":  # a genuine command, another version and SHA-256 put in
        payload = json.loads(signed["payload"])
        signed["payload"] = json.dumps({**payload, "version": "6.6", "sha256": sha})
    elif how == "unsigned":
        signed["signature"] = ""
    elif how == "sequence-altered":  # to pass root's replay check
        signed["seq"] += 1000
    elif how == "signature-garbage":
        signed["signature"] = "not base64 at all!" * 20
    elif how == "topic-not-utf-8":  # valid JSON; it stopped the updater mid-request
        signed["topic"] = "\ud800"
    return genuine


@pytest.mark.parametrize(
    "how",
    [
        "another-key",
        "payload-altered",
        "unsigned",
        "sequence-altered",
        "signature-garbage",
        "topic-not-utf-8",
    ],
)
def test_a_request_the_backend_did_not_sign_installs_nothing(box, how):
    before = box.trust()

    code, outcome = box.run(_forged(box, how))

    assert code == 1 and not outcome["ok"] and outcome["running"] == "1.0"
    assert outcome["detail"].startswith(
        "refused: the update command is not signed by a backend key this updater trusts"
    )
    assert box.releases.installed() == ["1.0"] and box.releases.current() == "1.0"
    assert box.restarts == 0 and box.trust() == before  # nothing learnt from it either


def _genuine(box: Box, case: str) -> tuple[dict, str]:
    archive = box.update / "allhours-2.0.tar.gz"
    sha = _archive(archive, "2.0")
    b = box.backend
    if case == "expired":
        return b.request(archive, "2.0", sha, expires_in=timedelta(seconds=-1)), "expired at"
    if case == "for-another-terminal":  # on T0002's own topic, as the backend sends it there
        signed = b.sign(b.command("2.0", sha, terminal_id="T0002"))
        return {"archive": str(archive), "command": signed.to_json()}, "for T0002"
    if case == "not-an-update":
        restart = m.RestartKiosk(
            terminal_id="T0001",
            operation_id="op-1",
            expires_at=m.utcnow() + timedelta(minutes=5),
            reason="screen frozen",
        )
        signed = b.sign(restart)
        return {"archive": str(archive), "command": signed.to_json()}, "not an update"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["expired", "for-another-terminal", "not-an-update"])
def test_a_genuine_signed_message_that_is_not_this_update_now_installs_nothing(box, case):
    asked, why = _genuine(box, case)

    code, outcome = box.run(asked)

    assert code == 1 and not outcome["ok"] and why in outcome["detail"]
    assert box.releases.installed() == ["1.0"] and box.restarts == 0


def test_a_genuine_command_handed_over_again_or_out_of_order_is_refused(box):
    # The kiosk's user keeps genuine commands: one for the release root installed since (to
    # undo the next one), and an older one it held back (a downgrade).
    archive = box.update / "allhours-2.0.tar.gz"
    sha = _archive(archive, "2.0")
    older = box.backend.request(archive, "2.0", sha, operation_id="rollout-1")
    newer = box.backend.request(box.update / "x.tar.gz", "1.0", "0" * 64, operation_id="r-2")

    code, outcome = box.run(newer)
    assert code == 0 and outcome["ok"] and outcome["detail"] == "already running"
    assert box.trust().last_seq == 2

    for again in (newer, older):
        code, outcome = box.run(again)
        assert code == 1 and "is not newer than the last one acted on (2)" in outcome["detail"]
    assert box.releases.installed() == ["1.0"] and box.restarts == 0
    # Named as the kiosk claims it, so that the rollout shows why: never acted on.
    assert outcome["operation_id"] == "rollout-1" and outcome["attempted"] == "2.0"


def test_a_version_that_failed_before_is_installed_again_when_the_backend_signs_it_again(box):
    # Left installed after its fall-back, it was refused for good ("failed its health check
    # before"), though a failed version is to be refused only until it is installed again.
    box.releases.install_tree(box.tmp / "build", "2.0")
    box.releases.write_state(failed={"2.0": "screens: font for Chinese not found"})
    archive = box.update / "allhours-2.0.tar.gz"

    code, outcome = box.run(box.backend.request(archive, "2.0", _archive(archive, "2.0")))

    assert "failed its health check before" not in outcome["detail"]
    assert (box.releases.path("2.0") / "bin" / "kiosk").exists()  # the signed archive's tree
    assert box.restarts >= 1  # tried again (no kiosk here reports healthy: it falls back)
    assert code == 1 and outcome["rolled_back"]


def test_a_key_rotation_reaches_root_with_a_signed_update(box):
    old, new = box.backend, Backend()
    both = (new.public_hex, old.public_hex)
    running = ("1.0", "0" * 64)  # the version running: checked, recorded, nothing switched

    # Announce: the old key signs a command that lists the next one too.
    assert box.run(old.request(box.update / "a", *running, backend_keys=both))[0] == 0
    assert box.trust().backend_keys == both
    # Promote: the new key signs, its sequence numbers going on; retire: the list drops the old.
    new.seq = old.seq
    assert box.run(new.request(box.update / "a", *running, backend_keys=both[:1]))[0] == 0
    assert box.trust().backend_keys == both[:1]

    old.seq = new.seq
    code, outcome = box.run(old.request(box.update / "a", *running))
    assert code == 1 and "not signed by a backend key this updater trusts" in outcome["detail"]
    assert "allhours update trust" in outcome["detail"]


def test_without_roots_trust_nothing_is_installed_and_the_outcome_says_what_to_do(box):
    box.trust_file.unlink()
    archive = box.update / "allhours-2.0.tar.gz"

    code, outcome = box.run(box.backend.request(archive, "2.0", _archive(archive, "2.0")))

    assert code == 1 and outcome["operation_id"] == "r-9"
    assert "trusts no backend key yet" in outcome["detail"]
    assert "allhours update trust --bundle" in outcome["detail"]
    assert box.releases.installed() == ["1.0"]

    box.trust_file.write_text('{"terminal_id": "T0001", "backend_signing_keys": ["zz"]}')
    code, outcome = box.run(box.backend.request(archive, "2.0", _archive(archive, "2.0")))
    assert code == 1 and "is damaged" in outcome["detail"]
    assert box.releases.installed() == ["1.0"]


def test_allhours_update_trust_takes_the_bundles_keys_and_keeps_the_sequence(tmp_path, capsys):
    backend, next_key = Backend(), Backend()
    bundle = EnrollmentBundle(
        terminal_id="T0001",
        broker_host="broker.site.example",
        broker_port=8883,
        enroll_url="https://enroll.site.example",
        pickup_code_key=b"k" * 32,
        applicant_key=b"a" * 32,
        backend_signing_keys=(backend.public_hex,),
    )
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(bundle.to_json()))
    trust_file = tmp_path / "etc" / "update-trust.json"
    argv = ["update", "--root", str(tmp_path / "opt"), "--trust", str(trust_file)]

    assert main([*argv, "trust", "--bundle", str(bundle_file)]) == 0
    assert backend.public_hex in capsys.readouterr().out
    assert UpdateTrust.load(trust_file) == UpdateTrust("T0001", (backend.public_hex,), 0)
    assert oct(trust_file.stat().st_mode & 0o777) == "0o644"

    # Taken again after a rotation the updater missed: the sequence number stays.
    UpdateTrust("T0001", (backend.public_hex,), 41).save(trust_file)
    keys = (next_key.public_hex, backend.public_hex)
    bundle_file.write_text(json.dumps({**bundle.to_json(), "backend_signing_keys": list(keys)}))
    assert main([*argv, "trust", "--bundle", str(bundle_file)]) == 0
    assert UpdateTrust.load(trust_file) == UpdateTrust("T0001", keys, 41)
    assert next_key.public_hex in capsys.readouterr().out

    assert main([*argv, "status"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["trust"]["backend_keys"] == list(keys) and shown["trust"]["last_seq"] == 41

    bundle_file.write_text("[" * 5000)
    assert main([*argv, "trust", "--bundle", str(bundle_file)]) == 1
    assert "not an enrollment bundle" in capsys.readouterr().err


def _rewrite_after_first_read(path: Path, payload: bytes) -> threading.Thread:
    """The kiosk's user at work: once root has read the archive (inotify IN_ACCESS on the file
    it owns), it writes its own tarball over the start of the same file."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = libc.inotify_init()
    assert fd >= 0 and libc.inotify_add_watch(fd, os.fsencode(path), 0x1) >= 0  # IN_ACCESS

    def rewrite() -> None:
        try:
            os.read(fd, 4096)  # the first read of it
            with open(path, "r+b") as f:
                f.write(payload)
        finally:
            os.close(fd)

    thread = threading.Thread(target=rewrite, daemon=True)
    thread.start()
    return thread


def test_an_archive_rewritten_while_root_hashes_it_is_not_what_root_unpacks(tmp_path):
    # Root hashed the kiosk user's file, then unpacked it from the start again: rewritten in
    # between, a release of the kiosk user's passed under the signed digest.
    update = tmp_path / "update"
    update.mkdir()
    archive = update / "allhours-2.0.tar.gz"
    archive.write_bytes(tar_bytes({"VERSION": b"2.0", "pad.bin": os.urandom(24 << 20)}, "w"))
    signed = hashlib.sha256(archive.read_bytes()).hexdigest()
    releases = Releases(tmp_path / "opt")
    attacker = _rewrite_after_first_read(archive, tar_bytes({"EVIL": b"root shell"}, "w"))

    with HeldDirectory(update) as held:
        releases.install_archive(archive, signed, "2.0", only_in=held)

    attacker.join(10)
    assert not attacker.is_alive() and archive.read_bytes()[:4] == b"EVIL"  # it was rewritten
    installed = releases.path("2.0")
    assert (installed / "pad.bin").stat().st_size == 24 << 20 and not (installed / "EVIL").exists()
    assert [p.name for p in releases.dir.iterdir() if p.name.startswith(".")] == []


def test_the_kiosks_directory_swapped_for_a_link_mid_request_redirects_nothing(box):
    # The kiosk's user owns the update directory's parent in a default install: after root has
    # read the request it puts a link to a root-only directory in the directory's place. Root
    # wrote its outcome there (overwriting a file of root's), and removed and opened files there.
    rootonly = box.tmp / "rootonly"
    rootonly.mkdir(mode=0o700)
    (rootonly / "outcome.json").write_text("root's own\n")
    moved = box.tmp / "update.moved"

    def swap_then_now():
        box.update.rename(moved)
        box.update.symlink_to(rootonly)
        return m.utcnow()

    request = box.update / "request.json"
    archive = box.update / "allhours-2.0.tar.gz"
    request.write_text(json.dumps(box.backend.request(archive, "1.0", "0" * 64)))
    code = run_request(request, box.releases, box.updater, box.trust_file, clock=swap_then_now)

    assert code == 0 and (rootonly / "outcome.json").read_text() == "root's own\n"
    assert json.loads((moved / "outcome.json").read_text())["ok"]  # where the request was
    assert sorted(p.name for p in rootonly.iterdir()) == ["outcome.json"]

    # A link in the directory's place before root starts: nothing is read through it.
    (rootonly / "request.json").write_text(
        json.dumps(box.backend.request(archive, "1.0", "0" * 64))
    )
    assert run_request(request, box.releases, box.updater, box.trust_file) == 2
    assert (rootonly / "request.json").exists() and box.trust().last_seq == 1
