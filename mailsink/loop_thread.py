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
        loop.close()
