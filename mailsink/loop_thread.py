"""An asyncio event loop on a thread of its own: how the listeners run and stop theirs.

The SMTP listener and the POP3/IMAP listeners each run their servers on a
loop in a daemon thread, so the rest of mailsink (web threads, the pytest
fixture) stays synchronous.  Both start and stop that loop the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


def new_loop(fast: bool = False) -> asyncio.AbstractEventLoop:
    """Return a new event loop: uvloop's when ``fast`` and uvloop is installed, else asyncio's.

    uvloop (the ``[fast]`` extra; libuv, in C) runs the same protocols with
    less CPU per read, write and callback: the SMTP listener asks for it
    (``--no-uvloop`` does not).  Where uvloop is not installed nothing changes.
    """
    if fast:
        try:
            import uvloop  # optional: only where the [fast] extra is installed
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run_until_stopped(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` in this thread until it is stopped, then cancel the tasks still open.

    Cancelling the sessions still open lets their transports close with the loop.
    """
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        # One more pass: the transports those tasks closed finish closing on the next
        # iteration (uvloop refuses to close a loop whose handles are still open).
        loop.run_until_complete(asyncio.sleep(0))


def stop_loop_thread(
    loop: asyncio.AbstractEventLoop,
    thread: threading.Thread,
    shutdown: Callable[[], Coroutine[Any, Any, None]],
    what: str,
) -> None:
    """Run ``shutdown()`` on the loop (closing servers), stop the loop and join its thread.

    The loop is closed once its thread has ended; ``what`` names the servers in
    the debug line logged when closing them takes longer than 5 s.
    """
    try:
        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
    except Exception:
        log.debug("closing %s timed out", what, exc_info=True)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    if not thread.is_alive() and not loop.is_closed():
        try:
            loop.close()
        except OSError:  # uvloop: a handle still closing (EBUSY); the process goes on
            log.debug("closing the loop of %s failed", what, exc_info=True)
