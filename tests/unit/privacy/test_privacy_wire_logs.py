"""No session cookie in the log, at any level: HTTP clients' wire logging stays off.

A security review ran `allhours demo` with the root logger at DEBUG and found a staff session
in its log: `DEBUG httpcore.http11: receive_response_headers.complete … (b'set-cookie',
b'allhours_session=…; HttpOnly…')`. Both logging set-ups (allhours/cli.py for every `allhours`
command, backend/__main__.py for the worker) hold the wire loggers at WARNING
(privacy/log_lines.py `quiet_wire_loggers`).
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from allhours import cli
from backend.__main__ import configure_logging
from privacy.log_lines import WIRE_LOGGERS, one_line_handler


@contextmanager
def server_setting(cookie: str) -> Iterator[str]:
    """A local HTTP server whose every answer sets `cookie`; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Set-Cookie", f"allhours_session={cookie}; HttpOnly; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def bare_logging() -> Iterator[None]:
    """Root and wire loggers as the test found them afterwards, without pytest's handlers during
    (basicConfig sets up a bare root only)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    wire = {name: logging.getLogger(name).level for name in WIRE_LOGGERS}
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root.handlers.clear()
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in wire.items():
            logging.getLogger(name).setLevel(was)


def as_the_review_ran_the_demo(out: io.StringIO) -> None:
    """The root logger at DEBUG before `allhours` sets up its own (which then adds no handler),
    as /tmp/review-secofficer/demo_debug.py did; then the CLI's most verbose set-up (-v)."""
    logging.basicConfig(level=logging.DEBUG, handlers=[one_line_handler(out)])
    cli._setup_logging(verbose=True)


def as_a_worker_at_debug(out: io.StringIO) -> None:
    """`python -m backend --log-level DEBUG`."""
    configure_logging("DEBUG", out)


@pytest.mark.parametrize("setup", [as_the_review_ran_the_demo, as_a_worker_at_debug])
def test_a_session_cookie_an_http_client_receives_is_not_logged(
    setup: Callable[[io.StringIO], None],
):
    cookie = secrets.token_urlsafe(32)
    out = io.StringIO()
    with bare_logging(), server_setting(cookie) as url:
        setup(out)
        with httpx.Client() as client:
            assert client.get(f"{url}/api/auth/sign-in").status_code == 200
            assert client.cookies["allhours_session"] == cookie
            client.get(f"{url}/api/applications")  # sends it back
        logging.getLogger("allhours.demo").debug("signed in as the demo's clerk")

    log = out.getvalue()
    assert "DEBUG allhours.demo: signed in as the demo's clerk" in log  # DEBUG is written
    assert cookie not in log
    assert "set-cookie" not in log.lower()
