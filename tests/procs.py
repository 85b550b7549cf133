"""Run ``mailsink`` as a real process and read the addresses it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Running:
    """A started mailsink process and the addresses from its start-up lines."""

    process: subprocess.Popen[str]
    smtp: tuple[str, int]
    web_url: str | None
    lines: list[str]


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
