"""Public sample photos for tests, benchmarks, the demo and screenshots.

The project ships no photos of people. Real ones come from packages on PyPI that
publish them: the face-recognition 1.3.0 sdist's test images (three photos of one
person, one of another) and scikit-image's sample data (an astronaut portrait, a
scanned page, a text image). They are fetched once with pip into a cache and
checked against the digests below, so a changed upstream file cannot silently
change what the tests measure.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

# name -> (archive kind, member path inside the archive, sha256 of the file)
_FACE_SDIST = "face_recognition==1.3.0"
_SKIMAGE_WHEEL = "scikit-image==0.26.0"
SAMPLES: dict[str, tuple[str, str, str]] = {
    "obama": (
        _FACE_SDIST,
        "face_recognition-1.3.0/tests/test_images/obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    ),
    "obama2": (
        _FACE_SDIST,
        "face_recognition-1.3.0/tests/test_images/obama2.jpg",
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    ),
    "obama3": (
        _FACE_SDIST,
        "face_recognition-1.3.0/tests/test_images/obama3.jpg",
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    ),
    "obama_partial_face": (
        _FACE_SDIST,
        "face_recognition-1.3.0/tests/test_images/obama_partial_face.jpg",
        "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
    ),
    "biden": (
        _FACE_SDIST,
        "face_recognition-1.3.0/tests/test_images/biden.jpg",
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
    ),
    "astronaut": (
        _SKIMAGE_WHEEL,
        "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    "page": (
        _SKIMAGE_WHEEL,
        "skimage/data/page.png",
        "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3",
    ),
    "text": (
        _SKIMAGE_WHEEL,
        "skimage/data/text.png",
        "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1",
    ),
}

# Which samples show the same person: tests and benchmarks pair them from this.
PERSON = {
    "obama": "A",
    "obama2": "A",
    "obama3": "A",
    "obama_partial_face": "A",
    "biden": "B",
    "astronaut": "C",
}


class SampleUnavailable(RuntimeError):
    """The sample could not be fetched (no registry reachable) or failed its digest."""


def cache_dir() -> Path:
    """`$ALLHOURS_SAMPLES`, else `~/.cache/allhours/samples`."""
    env = os.environ.get("ALLHOURS_SAMPLES")
    return Path(env) if env else Path.home() / ".cache" / "allhours" / "samples"


def sample(name: str) -> Path:
    """Path to a verified sample file, fetching its package on first use."""
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; known: {', '.join(sorted(SAMPLES))}")
    requirement, member, digest = SAMPLES[name]
    target = cache_dir() / f"{name}{Path(member).suffix}"
    if target.is_file() and _sha256(target.read_bytes()) == digest:
        return target
    data = _extract(_download(requirement), member)
    if _sha256(data) != digest:
        raise SampleUnavailable(f"sample {name} from {requirement} does not match its digest")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def sample_bytes(name: str) -> bytes:
    return sample(name).read_bytes()


def _download(requirement: str) -> Path:
    archives = cache_dir() / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    stem = requirement.replace("==", "-").replace("-", "_").lower()
    for found in archives.iterdir():
        if found.name.lower().replace("-", "_").startswith(stem):
            return found
    sdist = requirement == _FACE_SDIST
    with tempfile.TemporaryDirectory(dir=archives) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp]
        cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
        done = subprocess.run([*cmd, requirement], capture_output=True, text=True, timeout=300)
        files = list(Path(tmp).iterdir())
        if done.returncode != 0 or len(files) != 1:
            raise SampleUnavailable(f"pip could not fetch {requirement}: {done.stderr.strip()}")
        return files[0].rename(archives / files[0].name)


def _extract(archive: Path, member: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    with tarfile.open(archive) as tf:
        handle = tf.extractfile(member)
        if handle is None:
            raise SampleUnavailable(f"{member} is not a file in {archive.name}")
        return handle.read()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
