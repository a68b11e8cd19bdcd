"""A backend worker's settings file (environment over it, flags over both) and its bootstrap."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from allhours.broker import free_port
from backend.bootstrap import build_backend
from backend.settings import BackendSettingsError, load_backend_settings
from provisioning.authority import SiteAuthority


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "backend.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
database_url = "sqlite:///{db}"
blob_dir = "blobs"
ca_dir = "site-ca"
worker_id = "w2"
broker_port = 8883
public_names = ["backend.example.gov.cn"]
log_level = "warning"
"""


def test_a_file_with_paths_from_its_folder_and_the_worker_client_id(tmp_path):
    s = load_backend_settings(_write(tmp_path, BASE.format(db=tmp_path / "b.sqlite")))
    assert s.blob_dir == tmp_path / "blobs" and s.ca_dir == tmp_path / "site-ca"
    assert s.client_id == "backend.w2" and s.broker_port == 8883
    assert s.log_level == "WARNING" and s.http_port == 8080  # a default


def test_environment_over_the_file_and_flags_over_both(tmp_path, monkeypatch):
    path = _write(tmp_path, BASE.format(db=tmp_path / "b.sqlite"))
    monkeypatch.setenv("ALLHOURS_BACKEND_DATABASE_URL", "postgresql+psycopg://u:secret@/db")
    monkeypatch.setenv("ALLHOURS_BACKEND_HTTP_PORT", "9090")
    s = load_backend_settings(path)
    assert s.database_url.endswith("@/db") and s.http_port == 9090
    s = load_backend_settings(path, {"http_port": 9191, "worker_id": "w3"})
    assert s.http_port == 9191 and s.client_id == "backend.w3"
    assert s.database_url.endswith("@/db")  # the environment still below the flags


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        ('worker_id = "Backend 1"', "worker_id", "1-32 of a-z"),
        ("broker_port = 0", "broker_port", "greater than or equal to 1"),
        ("code_ttl_days = -1", "code_ttl_days", "greater than 0"),
        ('colour = "red"', "colour", "Extra inputs"),
        ('log_level = "loud"', "log_level", "'DEBUG', 'INFO'"),
    ],
)
def test_a_bad_value_names_file_key_and_reason(tmp_path, line, key, reason):
    path = _write(tmp_path, f'ca_dir = "ca"\n{line}\n')
    with pytest.raises(BackendSettingsError) as refused:
        load_backend_settings(path)
    assert str(refused.value).startswith(f"{path}: {key}: ")
    assert reason in str(refused.value)


def test_a_bad_flag_is_named_too(tmp_path):
    with pytest.raises(BackendSettingsError, match="worker_id: 1-32"):
        load_backend_settings(_write(tmp_path, 'ca_dir = "ca"\n'), {"worker_id": "A B"})


def test_the_bootstrap_builds_the_worker_the_settings_describe(tmp_path):
    SiteAuthority.create(tmp_path / "site-ca")
    path = _write(tmp_path, BASE.format(db=tmp_path / "b.sqlite"))
    backend = build_backend(load_backend_settings(path, {"enroll_port": free_port()}))
    try:
        assert backend.settings.client_id == "backend.w2"
        # The worker's broker certificate was issued from the site CA for its client id.
        assert (tmp_path / "site-ca" / "workers" / "backend.w2").is_dir()
        assert backend.enrollment.url.startswith("https://")
    finally:
        backend.enrollment.stop()  # bound, never started
        backend.service.stop()


def test_the_bootstrap_names_a_missing_site_ca_and_a_bad_holiday_file(tmp_path):
    s = load_backend_settings(_write(tmp_path, BASE.format(db=tmp_path / "b.sqlite")))
    with pytest.raises(BackendSettingsError, match=r"ca_dir: .*allhours provision init"):
        build_backend(s)
    SiteAuthority.create(tmp_path / "site-ca")
    (tmp_path / "h.json").write_text("[1, 2]")
    with_holidays = load_backend_settings(
        _write(tmp_path, BASE.format(db=tmp_path / "b.sqlite") + 'holidays = ["h.json"]\n')
    )
    with pytest.raises(BackendSettingsError, match=r"holidays: .*h\.json"):
        build_backend(with_holidays)


def test_the_documented_example_is_valid(monkeypatch):
    for name in [n for n in os.environ if n.startswith("ALLHOURS_BACKEND_")]:
        monkeypatch.delenv(name)
    example = Path(__file__).parents[3] / "docs" / "examples" / "backend.toml"
    s = load_backend_settings(example)
    assert s.client_id == "backend.1" and s.public_names == ("backend.example.gov.cn",)


def _allhours_backend(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLHOURS_")}
    return subprocess.run(
        [sys.executable, "-m", "allhours.cli", "backend", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).parents[3])},
    )


def test_allhours_backend_takes_a_settings_file_and_flags_over_it(tmp_path):
    path = _write(tmp_path, BASE.format(db=tmp_path / "b.sqlite"))
    # The file's site CA does not exist: the worker stops at start naming the file and key.
    proc = _allhours_backend(tmp_path, "--settings", str(path))
    assert proc.returncode == 2
    assert str(path) in proc.stderr and "ca_dir:" in proc.stderr
    assert "allhours provision init" in proc.stderr
    # A flag is validated like the file's keys, and named.
    proc = _allhours_backend(tmp_path, "--settings", str(path), "--worker-id", "Bad Name")
    assert proc.returncode == 2 and "worker" in proc.stderr


def test_allhours_backend_without_a_file_keeps_its_development_defaults(tmp_path):
    proc = _allhours_backend(tmp_path)  # no var/site-ca in this folder
    assert proc.returncode == 2
    assert "var/site-ca" in proc.stderr and "allhours provision init" in proc.stderr
