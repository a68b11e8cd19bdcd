"""Files of personal data and secrets: their owner's alone, whatever umask the process has.

The backend's database holds applicants' names, ID numbers and phones, the fleet's keys and staff
password hashes; its blob store and the terminal's hold scanned documents. Created under the
default umask (022) they were 0644 and their directories 0755: any local user could copy them.
Where the code creates them it does so through this module, with the mode given from the first
byte: directories 0700, files 0600.

- `private_dir` makes a directory 0700, and each missing parent too. `private_data_dir` is for a
  directory that is ours alone (a blob store, a terminal's data directory): one found with group
  or other bits, as an earlier release made it, is tightened at start and the log says so.
- `prepare_sqlite_file` creates a database file 0600 before SQLite opens it. SQLite gives the
  `-wal`, `-shm` and `-journal` files it makes the database file's mode (it chmods them to it,
  past the umask), so they are 0600 too; any found wider are tightened. The directory is made
  0700 when missing, but one that exists is left as it is: it may hold more than the database.
- `open_private` opens a file for writing with mode 0600 (a leftover file is chmodded).
- `private_umask` sets the process umask to 077 for the processes that write such data
  (`python -m backend`, `allhours backend`, `allhours demo`, the kiosk): a second wall for any
  file made elsewhere without a mode, and an explicit mode (a certificate 0644) still holds.

The standard library only, like the rest of `privacy/`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "PRIVATE_UMASK",
    "open_private",
    "prepare_sqlite_file",
    "private_data_dir",
    "private_dir",
    "private_umask",
    "tighten",
]

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600
_GROUP_OTHER = 0o077
# The files SQLite keeps beside a database, holding pages of it.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """The process umask 077 inside the block (the previous one back after it)."""
    before = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(before)


def tighten(path: str | Path) -> bool:
    """Take the group and other bits off `path` if it has any, saying so in the log; True if
    it did. A path that is not there is left alone; one that cannot be changed (not ours) is
    logged and left."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    if not mode & _GROUP_OTHER:
        return False
    narrow = mode & ~_GROUP_OTHER
    try:
        os.chmod(path, narrow)
    except OSError as exc:
        log.warning(
            "%s is mode %04o, readable by other users, and could not be tightened: %s",
            path,
            mode,
            exc.strerror or exc,
        )
        return False
    log.warning("%s was mode %04o, readable by other users: tightened to %04o", path, mode, narrow)
    return True


def private_dir(path: str | Path) -> Path:
    """`path` as a directory; every directory made here, missing parents too, is 0700.

    (`Path.mkdir(mode=…, parents=True)` gives the parents the umask's mode.) A directory that
    exists is left as it is."""
    path = Path(path)
    missing: list[Path] = []
    at = path
    while not at.is_dir():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            os.mkdir(directory, DIR_MODE)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")
    return path


def private_data_dir(path: str | Path) -> Path:
    """A directory that is ours alone: made 0700 (parents too) when missing, tightened to no
    group or other bits (logged) when found wider."""
    path = Path(path)
    if path.is_dir():
        tighten(path)
        return path
    return private_dir(path)


def _create_private(path: Path) -> None:
    """`path` created empty with mode 0600 if missing (never truncated); one found with group or
    other bits is tightened."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    os.close(fd)
    tighten(path)


def prepare_sqlite_file(path: str | Path) -> Path:
    """Before SQLite opens `path`: its directory there (made 0700 if missing), the database file
    created 0600 (an empty file is an empty database) and, like it, any `-wal`, `-shm` or
    `-journal` beside it tightened. SQLite gives the companion files it creates the database
    file's mode."""
    path = Path(path)
    private_dir(path.parent)
    _create_private(path)
    for suffix in SQLITE_COMPANIONS:
        tighten(path.with_name(path.name + suffix))
    return path


def open_private(path: str | Path) -> BinaryIO:
    """`path` open for writing from its start (truncated), mode 0600 whatever the umask or the
    mode of a file left there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise
