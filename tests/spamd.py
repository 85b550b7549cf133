"""Start Debian's SpamAssassin ``spamd`` on a free loopback port for the spam-check tests.

spamd takes about a second to load its rules, so the suite starts one per test
process (session scope; each xdist worker has its own on its own port).  It
runs with ``-L`` (local tests only: no DNS blocklists, no network) and ``-x``
(no per-user configuration), one child, logging to a file in the session's
temporary folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 60.0


@dataclass
class Spamd:
    """A running spamd: its address and the process."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        """Return ``HOST:PORT`` as ``--spamassassin`` takes it."""
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop spamd and its child."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING SPAMC/1.5\r\n\r\n")
            connection.shutdown(socket.SHUT_WR)
            return connection.recv(100).startswith(b"SPAMD/")
    except OSError:
        return False


def start_spamd(folder: Path) -> Spamd:
    """Start spamd on a free 127.0.0.1 port and wait until it answers PING."""
    binary = shutil.which("spamd") or "/usr/sbin/spamd"
    if not os.path.exists(binary):
        raise RuntimeError("spamd is not installed: run scripts/test (Debian package spamd)")
    log = folder / "spamd.log"
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        command = [binary, "-L", "-x", "-i", "127.0.0.1", "-p", str(port), "-A", "127.0.0.1"]
        command += ["--max-children", "1", "--min-children", "1", "-s", str(log)]
        command += ["--pidfile", str(folder / f"spamd-{port}.pid")]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]
        with open(folder / "spamd.stderr", "wb") as errors:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _answers_ping(port):
                return Spamd("127.0.0.1", port, process, log)
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=15)
        last_error = (folder / "spamd.stderr").read_text("utf-8", "replace")[-2000:]
    raise RuntimeError(f"spamd did not start: {last_error}")
