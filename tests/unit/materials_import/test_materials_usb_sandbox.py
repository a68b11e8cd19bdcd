"""The USB import's child, confined: code that a file's exploit would run there gets nothing.

Each probe is started by the importer's own `_start_child` (same interpreter, environment,
working directory, stdin and descriptors) and calls `sandbox_child` first, the function
`_child_main` calls before it reads the file; what the probe then tries stands for what code
a PDFium or Pillow exploit runs in the child could do. A directory like the kiosk's data dir
(a key, a database) lies outside /tmp, where the child mounts its empty root, and a listener
waits on loopback.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal.materials import usb_import as u
from terminal.materials.usb_import import ImportLimits

PROBE = r"""
import errno, json, os, socket, sys

from terminal.materials import usb_import as u

kind, data_dir, port, refuse_namespaces = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if refuse_namespaces == "yes":  # as a kernel without unprivileged user namespaces would

    def _refused(libc):
        raise OSError(errno.EPERM, "unshare: Operation not permitted")

    u._unshare = _refused
held = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)  # a descriptor an import left open

limits, confinement = u.sandbox_child(kind)  # what the importer's child does first

tried = {}


def attempt(name, action):
    try:
        action()
        tried[name] = "done"
    except OSError as exc:
        tried[name] = errno.errorcode.get(exc.errno, str(exc.errno))


def path(name):
    return os.path.join(data_dir, name)


def connect():
    with socket.socket() as s:
        s.settimeout(5)
        s.connect(("127.0.0.1", port))


def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


attempt("read_key", lambda: open(path("terminal.key"), "rb").read())
attempt("list_data_dir", lambda: os.listdir(data_dir))
attempt("create", lambda: open(path("new.txt"), "xb").close())
attempt("truncate", lambda: open(path("terminal.sqlite"), "r+b").truncate(0))
attempt("unlink", lambda: os.unlink(path("terminal.key")))
attempt("rename", lambda: os.rename(path("terminal.sqlite"), path("moved.sqlite")))
attempt("create_in_root", lambda: open("/anything", "xb").close())
attempt("held_descriptor", lambda: os.listdir(held))
attempt("connect", connect)
attempt("fork", fork)
head = os.read(0, 5).decode()  # the file to parse, passed as stdin, stays readable
sys.stdout.write(json.dumps({"tried": tried, "missing": list(confinement.missing), "head": head}))
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A stand-in for the kiosk's data dir: not under /tmp, where the child mounts its root."""
    base = next((d for d in ("/var/tmp", "/dev/shm") if os.access(d, os.W_OK)), None)
    if base is None:
        pytest.skip("no writable directory outside /tmp")
    path = Path(tempfile.mkdtemp(prefix="allhours-sandbox-", dir=base))
    (path / "terminal.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nSECRET\n")
    (path / "terminal.sqlite").write_bytes(b"SQLite format 3\0" + b"x" * 4096)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener on loopback that accepts whatever connects, in this process."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def _probe(data_dir: Path, port: int, kind: str = "pdf", refuse_namespaces: bool = False):
    stdin = data_dir.parent / f"{data_dir.name}-file.pdf"
    stdin.write_bytes(b"%PDF-1.7\n")
    fd = os.open(stdin, os.O_RDONLY)
    try:
        args = ["-c", PROBE, kind, str(data_dir), str(port), "yes" if refuse_namespaces else "no"]
        proc = u._start_child(fd, ImportLimits(), args)
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(fd)
        stdin.unlink()
    assert proc.returncode == 0, out
    return json.loads(out)


def _user_namespaces_allowed() -> bool:
    code = (
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True);"
        " raise SystemExit(libc.unshare(0x10000000 | 0x40000000 | 0x20000) != 0)"
    )
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("kind", ["pdf", "png"])
def test_code_run_in_the_child_reads_changes_and_reaches_nothing(data_dir, listener, kind):
    if not _user_namespaces_allowed():
        pytest.skip("this kernel refuses unprivileged user namespaces")
    before = {p.name: p.read_bytes() for p in data_dir.iterdir()}

    result = _probe(data_dir, listener, kind)

    assert result["missing"] == []
    tried = result["tried"]
    for action in ("read_key", "list_data_dir", "create", "truncate", "unlink", "rename"):
        assert tried[action] == "ENOENT", action  # the data dir is not there at all
    assert tried["create_in_root"] == "EROFS"
    assert tried["held_descriptor"] == "EBADF"
    assert tried["connect"] == "ENETUNREACH"  # a network namespace of its own: no loopback
    if os.getuid() != 0:  # RLIMIT_NPROC does not hold root back; the kiosk's user it does
        assert tried["fork"] == "EAGAIN"
    assert result["head"] == "%PDF-"
    assert {p.name: p.read_bytes() for p in data_dir.iterdir()} == before


def test_without_user_namespaces_the_child_is_confined_less_and_says_so(data_dir, listener):
    result = _probe(data_dir, listener, refuse_namespaces=True)

    assert result["missing"] == ["namespaces", "empty_root", "no_capabilities"]
    tried = result["tried"]
    assert tried["held_descriptor"] == "EBADF"
    if os.getuid() != 0:
        assert tried["fork"] == "EAGAIN"
    # What the namespaces and the empty root are for: without them the files are in reach.
    assert tried["read_key"] == "done"
    assert tried["connect"] == "done"


def _frame(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">4sI", tag, len(payload)) + payload


def _collect_answer(info: dict[str, object]) -> None:
    pixels = b"\x80" * (8 * 8 * 3)
    data = _frame(b"INFO", json.dumps(info).encode())
    data += _frame(b"PAGE", struct.pack(">II", 8, 8) + pixels) + _frame(b"DONE", b"")
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    try:
        reader = u._FrameReader(read_end, time.monotonic() + 10, "scan.png")
        u._collect(reader, "scan.png", u.FileKind.PNG, 100, ImportLimits())
    finally:
        os.close(read_end)


def test_the_terminal_logs_once_that_the_import_runs_less_confined(monkeypatch, caplog):
    monkeypatch.setattr(u, "_sandbox_logged", False)
    report = {"missing": ["namespaces", "empty_root", "no_capabilities", "made-up"]}
    report["why"] = "namespaces: unshare: Operation not permitted\nforged line"
    caplog.set_level(logging.INFO, logger=u.__name__)

    for _ in range(3):
        _collect_answer({"pages": 1, "sandbox": report})

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "without: namespaces, empty_root, no_capabilities (namespaces: unshare" in text
    assert "made-up" not in text and "\n" not in text


def test_a_fully_confined_child_is_noted_without_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(u, "_sandbox_logged", False)
    caplog.set_level(logging.INFO, logger=u.__name__)

    _collect_answer({"pages": 1, "sandbox": {"missing": [], "why": ""}})

    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_a_real_import_reports_its_confinement(tmp_path, monkeypatch, caplog):
    if not _user_namespaces_allowed():
        pytest.skip("this kernel refuses unprivileged user namespaces")
    monkeypatch.setattr(u, "_sandbox_logged", False)
    caplog.set_level(logging.INFO, logger=u.__name__)
    from PIL import Image

    Image.new("RGB", (60, 40), "white").save(tmp_path / "scan.png")

    assert u.import_file(tmp_path, "scan.png").pages
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "confined child (namespaces, empty_root" in caplog.records[0].getMessage()
