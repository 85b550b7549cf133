"""StoreLock: the operating-system lock that gives one process at a time a store's files.

Why: SQLite locks its own database, but the blob segments are plain files
that the store appends to at offsets it keeps in memory.  Two processes on
one store both appended to the same segment, each trusting its own idea of
where the file ended, and a message read back with another's bytes.  The
lock is taken before any file is touched and held until the store closes;
a second process is refused at once with a message that names the holder.

``flock`` (not ``fcntl`` record locks) because its lock belongs to the open
file, not the process: a second store in the same process is refused too,
and the kernel drops the lock when the holder dies (``kill -9`` leaves no
stale lock behind; the file itself stays and is reused).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; the store runs unlocked there
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = "-lock"
"""Suffix of the lock file beside the database."""


class StoreInUseError(RuntimeError):
    """Another process (or another store in this one) holds the store's files."""


class StoreLock:
    """Hold an exclusive lock on ``PATH-lock`` from :meth:`acquire` to :meth:`release`."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = Path(f"{database}{LOCK_SUFFIX}")
        self._fd = -1

    def acquire(self) -> None:
        """Take the lock or raise StoreInUseError naming the process that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                who = f"process {holder}" if holder.isdigit() else "another process"
                raise StoreInUseError(
                    f"{self.database} is in use by {who} (lock file {self.path}); "
                    "one mailsink at a time may open a store: stop the other one, "
                    "or give this one another --store"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (closing the file releases it); the file stays for the next holder."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1
