"""Request limits over a real uvicorn server: big bodies get 413, hostile JSON a clean 422."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

from allhours.broker import free_port
from backend import limits
from cloud_bridge.link import wait_until

JSON = {"content-type": "application/json"}


class Note(BaseModel):
    text: str = Field(max_length=500)
    count: int = 0


def _app() -> FastAPI:
    app = FastAPI()
    limits.install(app, max_body_bytes=64 * 1024)

    @app.post("/notes")
    def add(note: Note) -> dict[str, int]:
        return {"length": len(note.text), "count": note.count}

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, name="uvicorn-limits")
    thread.start()
    assert wait_until(lambda: server.started, 10), "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_body_within_the_limit_is_served(base_url):
    r = httpx.post(f"{base_url}/notes", json={"text": "x" * 400, "count": 2})
    assert (r.status_code, r.json()) == (200, {"length": 400, "count": 2})


def test_a_20_mib_body_is_refused_with_413_by_its_declared_length(base_url):
    r = httpx.post(f"{base_url}/notes", content=b"x" * (20 * 1024 * 1024))
    assert r.status_code == 413
    assert r.json() == {"detail": "request body over 65536 bytes"}


def test_a_streamed_body_without_length_is_refused_with_413_once_over(base_url):
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(40):
            yield b"y" * 16 * 1024
        yield b'"}'

    r = httpx.post(f"{base_url}/notes", content=chunks())

    assert r.status_code == 413


@pytest.mark.parametrize(
    "body",
    [b'{"text": "a", "count": 1e999}', b'{"text": 1e999}', b"{not json"],
    ids=["huge-int", "huge-text", "bad-json"],
)
def test_hostile_json_gets_a_clean_422_and_the_server_stays_up(base_url, body):
    r = httpx.post(f"{base_url}/notes", content=body, headers=JSON)

    assert r.status_code == 422
    assert all("input" not in e for e in r.json()["detail"])
    assert httpx.post(f"{base_url}/notes", json={"text": "after"}).status_code == 200


def test_json_nested_past_the_parser_depth_gets_a_400(base_url):
    r = httpx.post(f"{base_url}/notes", content=b"[" * 5000, headers=JSON)

    assert r.status_code == 400
    assert httpx.post(f"{base_url}/notes", json={"text": "after"}).status_code == 200
