"""Append-only segment files that hold the SQLite store's message bytes.

Why not BLOBs in SQLite: a 100 KB message is 25 overflow pages, each
written to the WAL with two system calls and copied again by the
checkpoint; that was more than half the disk store's cost per message.  An
append to a segment file is one ``writev`` into the page cache.

The durability promise holds because of the order of writes: the bytes are
written here *before* the SQLite transaction that refers to them commits,
so a committed row always points at bytes the operating system already has
(``kill -9`` loses nothing).  With ``sync_writes`` the segment is also
``fdatasync``-ed before that commit, which covers power loss as
``synchronous=FULL`` does for the database.

Bytes whose transaction never committed (a crash between the two steps, a
failed batch) are left as unreferenced garbage in the segment.  A segment
file is deleted once no stored message refers to it: pruning removes the
oldest messages first, so a sink with ``--max-messages`` keeps its disk use
bounded.  A segment that deletes have left more than half empty is
compacted by the store (its live messages copied to the current segment,
then the file deleted), and so are the segments with the most dead bytes
whenever dead bytes pass a quarter of the whole (deletes spread thinly over
many segments); :class:`SegmentLedger` keeps the counts that decide it.
Segment numbers only grow, so a reader holding an old row never reads
another message's bytes: it finds the file gone instead.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

SEGMENT_BYTES = 64 * 1024 * 1024
"""A segment is closed for appends once it has grown past this size."""

_SUFFIX = ".seg"

RECLAIM_AT = 0.25
RECLAIM_TO = 0.10
"""Dead space, as a share of the closed segments' bytes, that starts a reclaim, and where
it stops (:meth:`SegmentLedger.wasteful`)."""


class BlobSegments:
    """Append byte strings to numbered segment files and read them back by position."""

    def __init__(
        self,
        directory: Path,
        sync_writes: bool = False,
        segment_bytes: int = SEGMENT_BYTES,
        *,
        read_only: bool = False,
    ) -> None:
        """Open the folder of segments; ``read_only`` creates, appends and deletes nothing."""
        self.directory = directory
        self.sync_writes = sync_writes
        self.segment_bytes = segment_bytes
        self.read_only = read_only
        if not read_only:
            directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._readers: dict[int, int] = {}
        self._retired: dict[int, float] = {}
        """Segments to delete, with the monotonic time from which they may go."""
        existing = self.segments()
        # A new process always starts a new segment: the tail of the last one
        # may hold garbage from a crash, and appending after it is harmless but
        # starting afresh keeps "the current segment" a simple idea.
        self._current = (max(existing) if existing else 0) + 1
        self._fd = -1
        self._size = 0

    def segments(self) -> list[int]:
        """Return the numbers of the segment files on disk."""
        numbers = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            if path.stem.isdigit():
                numbers.append(int(path.stem))
        return sorted(numbers)

    @property
    def current(self) -> int:
        """Return the number of the segment appends go to."""
        return self._current

    def size(self, segment: int) -> int:
        """Return the size of a segment file in bytes, 0 if it does not exist."""
        try:
            return self._path(segment).stat().st_size
        except FileNotFoundError:
            return 0

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:08d}{_SUFFIX}"

    def append(self, items: list[list[bytes]]) -> tuple[int, list[int]]:
        """Write each item's chunks, back to back; return the segment and each item's offset.

        The store appends under its write lock (from the event loop, the
        writer thread, or a delete that compacts); this lock also orders
        appends against :meth:`remove` and :meth:`reset`.  If the write fails
        part-way (a full disk), the size is read back from the file, so the
        next append's offsets stay true and the partial bytes are garbage.
        """
        if self.read_only:
            raise PermissionError(f"{self.directory}: opened read-only")
        with self._lock:
            if self._retired:
                with self._read_lock:
                    self._delete_due(time.monotonic())
            if self._fd < 0 or self._size >= self.segment_bytes:
                self._open_next()
            offsets = []
            chunks: list[bytes] = []
            position = self._size
            for item in items:
                offsets.append(position)
                for chunk in item:
                    chunks.append(chunk)
                    position += len(chunk)
            try:
                _write_all(self._fd, chunks)
                if self.sync_writes:
                    os.fdatasync(self._fd)
            except BaseException:
                self._size = os.fstat(self._fd).st_size
                raise
            self._size = position
            return self._current, offsets

    def _open_next(self) -> None:
        """Close the current segment for appends and start the next one."""
        if self._fd >= 0:
            os.close(self._fd)
            self._current += 1
        self._fd = os.open(
            self._path(self._current), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
        self._size = os.fstat(self._fd).st_size
        if self.sync_writes:
            _fsync_directory(self.directory)

    def read(self, segment: int, offset: int, length: int) -> bytes | None:
        """Return ``length`` bytes at ``offset`` of a segment, or None if they are gone.

        The read happens under the read lock so that :meth:`remove` cannot
        close the descriptor (and the number be reused for another file) mid-read.
        """
        with self._read_lock:
            fd = self._readers.get(segment, -1)
            if fd < 0:
                try:
                    fd = os.open(self._path(segment), os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    return None
                self._readers[segment] = fd
            data = os.pread(fd, length, offset)
        return data if len(data) == length else None

    def _forget_readers(self, segments: Iterable[int] | None = None) -> None:
        """Close cached read descriptors (of these segments, or all); hold _read_lock."""
        for segment in list(self._readers) if segments is None else segments:
            fd = self._readers.pop(segment, -1)
            if fd >= 0:
                os.close(fd)

    def remove(self, segments: Iterable[int], grace: float = 0.0) -> None:
        """Delete segment files no message refers to any more (never the current one).

        With ``grace``, the file is kept that many seconds more, for the
        readers still working from a database snapshot taken before the rows
        that pointed at it moved (a compaction); it goes at a later call of
        this or of :meth:`append`, or at :meth:`close`.
        """
        if self.read_only:
            return
        now = time.monotonic()
        with self._lock, self._read_lock:
            for segment in segments:
                if not (segment == self._current and self._fd >= 0):
                    self._retired[segment] = now + grace
            self._delete_due(now)

    def _delete_due(self, now: float) -> None:
        """Delete the retired segments whose time has come (hold both locks)."""
        due = [s for s, when in self._retired.items() if when <= now]
        self._forget_readers(due)
        for segment in due:
            del self._retired[segment]
            self._path(segment).unlink(missing_ok=True)

    def reset(self) -> None:
        """Delete every segment (after the store was cleared); numbering goes on."""
        with self._lock, self._read_lock:
            if self._close_descriptors():
                self._current += 1
            self._retired.clear()
            for segment in self.segments():
                self._path(segment).unlink(missing_ok=True)

    def close(self) -> None:
        """Close every descriptor."""
        with self._lock, self._read_lock:
            self._close_descriptors()
            for segment in self._retired:
                self._path(segment).unlink(missing_ok=True)
            self._retired.clear()

    def _close_descriptors(self) -> bool:
        """Close the append and read descriptors (hold both locks); tell if one was appending."""
        appending = self._fd >= 0
        if appending:
            os.close(self._fd)
            self._fd = -1
        self._forget_readers()
        return appending


class SegmentLedger:
    """Count the messages and bytes still in use in each segment.

    The store updates it after each commit that adds or removes messages;
    it tells which segments no message needs any more, and which are
    mostly dead space and worth compacting.
    """

    def __init__(self, usage: Iterable[tuple[int, int, int]]) -> None:
        """Start from (segment, messages, bytes) rows, as counted in the database."""
        self._use: dict[int, list[int]] = {segment: [rows, size] for segment, rows, size in usage}

    def __contains__(self, segment: object) -> bool:
        return segment in self._use

    def added(self, segment: int, messages: int, size: int) -> None:
        """Record messages of ``size`` bytes in all appended to a segment."""
        use = self._use.setdefault(segment, [0, 0])
        use[0] += messages
        use[1] += size

    def removed(self, items: Iterable[tuple[int, int]]) -> list[int]:
        """Record removed (segment, bytes) messages; return the segments left unused."""
        emptied = []
        for segment, size in items:
            use = self._use[segment]
            use[0] -= 1
            use[1] -= size
            if not use[0]:
                del self._use[segment]
                emptied.append(segment)
        return emptied

    def sparse(self, segments: Iterable[int], blobs: BlobSegments) -> list[int]:
        """Return those of ``segments`` (not the current one) less than half in use."""
        return [
            segment
            for segment in sorted(set(segments))
            if segment in self._use
            and segment != blobs.current
            and self._use[segment][1] * 2 < blobs.size(segment)
        ]

    def wasteful(self, blobs: BlobSegments) -> list[int]:
        """Return the closed segments to compact so that dead space stays proportional.

        Deletes spread over many segments leave each mostly in use, so no
        single segment is sparse and, without this, deleting a third of the
        mail freed nothing.  Once dead bytes pass :data:`RECLAIM_AT` of the
        closed segments' bytes, the segments with the most dead bytes are
        picked until what is left dead is under :data:`RECLAIM_TO`.
        """
        sizes = {segment: blobs.size(segment) for segment in self._use if segment != blobs.current}
        dead = {segment: max(0, size - self._use[segment][1]) for segment, size in sizes.items()}
        total, waste = sum(sizes.values()), sum(dead.values())
        if not total or waste <= RECLAIM_AT * total:
            return []
        picked = []
        for segment in sorted(dead, key=dead.__getitem__, reverse=True):
            if waste <= RECLAIM_TO * total:
                break
            picked.append(segment)
            waste -= dead[segment]
        return picked

    def clear(self) -> None:
        """Forget every segment (delete-all)."""
        self._use.clear()


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write every chunk with as few system calls as the kernel allows."""
    views = [memoryview(c) for c in chunks if c]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + 1024])  # IOV_MAX is 1024 on Linux
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


def _fsync_directory(directory: Path) -> None:
    """Make a new file's directory entry durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
