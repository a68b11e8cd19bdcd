"""The API and console behind a reverse proxy (backend/front.py): whose forwarded headers are
believed, cookies only over https, and HSTS; through a real uvicorn server on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from allhours.broker import free_port, port_open
from backend.api import create_app
from backend.auth.accounts import Accounts
from backend.front import Front
from backend.service import BackendService
from backend.settings import BackendSettingsError, load_backend_settings

PASSWORD = "Correct-Horse-42"
ADDRESS_LIMIT = 20  # ThrottleSettings.address_failures


@pytest.fixture
def service(tmp_path: Path) -> Iterator[BackendService]:
    svc = BackendService(f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "blobs", broker_port=None)
    Accounts(svc.db).add("frank", ["clerk"], password=PASSWORD, must_change_password=False)
    yield svc
    svc.stop()


def _serving(service: BackendService, front: Front) -> Iterator[str]:
    port = free_port()
    server = front.http_server(create_app(service, front=front), "127.0.0.1", port, "warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not listen"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _sign_in(base: str, username: str, password: str, forwarded_for: str) -> int:
    body = {"username": username, "password": password}
    headers = {"X-Forwarded-For": forwarded_for}
    return httpx.post(f"{base}/api/session", json=body, headers=headers, timeout=30).status_code


def test_a_client_the_settings_do_not_trust_cannot_choose_the_address_it_is_counted_by(service):
    """The proxy is named (192.0.2.1); a client connecting directly (here from loopback, which
    uvicorn believed by default) sends a new X-Forwarded-For with each guess: every guess still
    counts against its own address, and the address is locked at its limit."""
    for base in _serving(service, Front(trusted_proxies=("192.0.2.1",))):
        for n in range(ADDRESS_LIMIT):
            assert _sign_in(base, f"nobody{n}", "guess-guess", f"203.0.113.{n + 1}") == 401
        assert _sign_in(base, "frank", PASSWORD, "203.0.113.200") == 429


def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(service):
    """Everyone arrives from the proxy's address: unless it is trusted, 20 wrong guesses from
    one stranger locked every member of staff out. Trusted, the stranger locks only itself."""
    for base in _serving(service, Front(trusted_proxies=("127.0.0.1",))):
        for n in range(ADDRESS_LIMIT):
            assert _sign_in(base, f"nobody{n}", "guess-guess", "203.0.113.9") == 401
        assert _sign_in(base, "frank", PASSWORD, "203.0.113.9") == 429
        assert _sign_in(base, "frank", PASSWORD, "198.51.100.4") == 200


@pytest.mark.parametrize("secure", [True, False])
def test_cookies_are_secure_as_the_settings_say_and_https_answers_carry_hsts(service, secure):
    client = TestClient(create_app(service, front=Front(secure_cookies=secure)))
    login_form = client.get("/console/login?lang=en")
    session = client.post("/api/session", json={"username": "frank", "password": PASSWORD})

    cookies = login_form.headers.get_list("set-cookie") + session.headers.get_list("set-cookie")
    assert {c.split("=")[0] for c in cookies} == {
        "allhours_login_csrf",
        "allhours_lang",
        "allhours_session",
    }
    assert all(("; secure" in c.lower()) is secure for c in cookies), cookies
    assert "strict-transport-security" not in session.headers  # came over http

    over_https = TestClient(create_app(service), base_url="https://testserver")
    answer = over_https.get("/console/login")
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
    assert "; secure" in answer.headers["set-cookie"].lower()  # None: Secure over https
    assert "strict-transport-security" not in over_https.get("/healthz").headers


def _settings_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "backend.toml"
    path.write_text(f'ca_dir = "{tmp_path / "ca"}"\n{body}')
    return path


def test_production_settings_send_cookies_over_https_only_and_name_their_proxies(tmp_path):
    defaults = load_backend_settings(_settings_file(tmp_path, ""))
    assert defaults.secure_cookies is True and defaults.trusted_proxies == ("127.0.0.1",)
    named = load_backend_settings(
        _settings_file(tmp_path, 'trusted_proxies = ["10.0.8.0/24", "::1"]\n')
    )
    assert named.trusted_proxies == ("10.0.8.0/24", "::1")


@pytest.mark.parametrize(
    ("proxies", "reason"),
    [('["*"]', "would believe any client"), ('["proxy.example"]', "not an IP address")],
)
def test_a_proxy_list_believing_anyone_or_naming_no_address_is_refused(tmp_path, proxies, reason):
    with pytest.raises(BackendSettingsError, match=reason):
        load_backend_settings(_settings_file(tmp_path, f"trusted_proxies = {proxies}\n"))
