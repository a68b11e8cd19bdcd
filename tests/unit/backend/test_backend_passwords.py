"""The production password hasher, in a process of its own (the suite's own processes hash at
argon2's test profile, tests/conftest.py): argon2id with RFC 9106's low-memory parameters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

CHECK = """
import sys
sys.path.insert(0, {repo!r})
from backend.auth.passwords import hash_password, needs_rehash, verify_password
stored = hash_password("correct horse battery")
print(stored)
print(verify_password(stored, "correct horse battery"), verify_password(stored, "wrong one!!"))
print(needs_rehash("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$2ZqmG8Ulm0Cyu3ng5FSVDw"))
"""


def test_staff_passwords_are_hashed_with_argon2id_at_rfc_9106_low_memory_cost():
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(repo=str(REPO))],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    stored, verdicts, weak = done.stdout.splitlines()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verdicts == "True False"
    # A hash made at a cheaper cost is rehashed at the next sign-in.
    assert weak == "True"
