"""Run ``mailsink`` as a real process and read the addresses it prints."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO


@dataclass
class Running:
    """A started mailsink process and the addresses from its start-up lines."""

    process: subprocess.Popen[str]
    smtp: tuple[str, int]
    web_url: str | None
    lines: list[str]
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=500))
    """The last lines of stdout and stderr once :meth:`drain` reads them."""
    _readers: list[threading.Thread] = field(default_factory=list)

    def drain(self) -> Running:
        """Read the process's stdout and stderr from now on, keeping only the last lines.

        A pipe that nobody reads fills after 64 KiB and then blocks whatever
        the process writes to it; a long-running test must not depend on
        the process coping with that.  Use :meth:`stop`, not
        ``communicate()``, to end a drained process.
        """
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
                reader.start()
                self._readers.append(reader)
        return self

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.output.append(line.rstrip("\n"))

    def stop(self, timeout: float = 20) -> None:
        """Terminate the process (if it runs), wait for it and for the drain readers."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start_mailsink(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    command: list[str] | None = None,
    python: str = sys.executable,
    cwd: str | None = None,
    clean_env: bool = False,
) -> Running:
    """Start ``python -m mailsink`` (or ``command``) and wait for its start-up lines.

    ``clean_env`` starts it with only ``env``, not this process's environment.
    """
    process = subprocess.Popen(
        [*(command or [python, "-m", "mailsink"]), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env or {}) if clean_env else {**os.environ, **(env or {})},
        cwd=cwd,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.strip().startswith("ready;"):
            break
    text = "\n".join(lines)
    match = re.search(r"SMTP on (\S+):(\d+)", text)
    if not match:
        process.kill()
        _out, err = process.communicate(timeout=10)
        raise AssertionError(f"mailsink did not start: {text}\n{err}")
    web = re.search(r"web UI and API at (\S+?)/?$", text, re.MULTILINE)
    return Running(
        process, (match.group(1), int(match.group(2))), web.group(1) if web else None, lines
    )
