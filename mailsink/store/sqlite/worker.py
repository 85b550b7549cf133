"""The lifecycle the SQLite store's background threads share: none until started, joined on stop.

Building an index or a checkpointer starts nothing (tests can build one and
look at it); :meth:`Worker.start` starts its thread, :meth:`Worker.stop`
sets ``stopping`` and ``wake`` and waits for the thread to see them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Worker:
    """Run ``target`` on a daemon thread between :meth:`start` and :meth:`stop`."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self.name = name
        self.wake = threading.Event()
        """Set to wake the thread (new work, or stopping)."""
        self.stopping = threading.Event()
        """Set once the thread should end."""
        self._target = target
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        """Tell whether the thread was started (and not stopped since)."""
        return self._thread is not None

    def start(self) -> None:
        """Start the thread, unless it runs already."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._target, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float) -> None:
        """Tell the thread to end and wait up to ``timeout`` seconds for it."""
        if self._thread is not None:
            self.stopping.set()
            self.wake.set()
            self._thread.join(timeout)
            self._thread = None
