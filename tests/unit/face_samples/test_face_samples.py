"""The sample photos come from their PyPI packages and are checked against pinned digests."""

from __future__ import annotations

import hashlib

import pytest

from demo_support import samples


def test_every_sample_matches_its_pinned_digest():
    for name, (_req, _member, digest) in samples.SAMPLES.items():
        data = samples.sample_bytes(name)
        assert hashlib.sha256(data).hexdigest() == digest, name


def test_a_tampered_cached_copy_is_replaced_from_the_archive(tmp_path, monkeypatch):
    real = samples.sample("biden")  # make sure the archive is cached
    monkeypatch.setenv("ALLHOURS_SAMPLES", str(tmp_path))
    (tmp_path / "archives").mkdir()
    for archive in (real.parent / "archives").iterdir():
        (tmp_path / "archives" / archive.name).symlink_to(archive)
    (tmp_path / "biden.jpg").write_bytes(b"not the photo")
    assert samples.sample("biden").read_bytes() == real.read_bytes()


def test_an_archive_with_a_changed_member_is_refused(tmp_path, monkeypatch):
    import tarfile

    monkeypatch.setenv("ALLHOURS_SAMPLES", str(tmp_path))
    (tmp_path / "archives").mkdir()
    _req, member, _digest = samples.SAMPLES["obama"]
    evil = tmp_path / "payload.jpg"
    evil.write_bytes(b"\xff\xd8\xff swapped")
    with tarfile.open(tmp_path / "archives" / "face_recognition-1.3.0.tar.gz", "w:gz") as tf:
        tf.add(evil, arcname=member)
    with pytest.raises(samples.SampleUnavailable, match="digest"):
        samples.sample("obama")


def test_unknown_names_are_refused():
    with pytest.raises(KeyError, match="known"):
        samples.sample("nobody")
