"""The README's quick start works on a fresh machine with only the system's Python.

Debian's and Ubuntu's ``/usr/bin/python3`` refuse ``pip install`` (PEP 668), and
Debian ships venv's pip bootstrap separately (``python3-venv``), so the quick
start is ``./scripts/run``, which makes a virtual environment of its own.  Each
test copies the checkout to a temporary folder and runs it there with ``PATH``
limited to the system's folders, as a newcomer's shell would have it.
"""

from __future__ import annotations

import shutil
import smtplib
import urllib.request
from pathlib import Path

import pytest

from procs import start_mailsink

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")
SKIP_DIRS = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "test-artifacts"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="needs the system's /usr/bin/python3"),
]


def _copy_checkout(target: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP_DIRS or n == "__pycache__" or n.endswith(".egg-info")}

    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def _runs_and_answers(checkout: Path, env: dict[str, str]) -> None:
    running = start_mailsink(
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        command=[str(checkout / "scripts" / "run")],
        cwd=str(checkout),
        env=env,
        clean_env=True,
        timeout=240,
    )
    try:
        with smtplib.SMTP(*running.smtp, timeout=10) as client:
            client.sendmail("a@example.test", ["b@example.test"], b"Subject: hi\r\n\r\nhello\r\n")
        assert running.web_url is not None
        with urllib.request.urlopen(f"{running.web_url}/readyz", timeout=10) as response:
            assert b'"messages":1' in response.read().replace(b" ", b"")
    finally:
        running.process.terminate()
        running.process.communicate(timeout=10)


def test_scripts_run_installs_and_starts_with_the_system_python(tmp_path: Path) -> None:
    checkout = _copy_checkout(tmp_path / "mailsink")
    _runs_and_answers(checkout, {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert (checkout / ".venv" / "bin" / "mailsink").exists()


def test_scripts_run_works_where_venv_has_no_pip_bootstrap(tmp_path: Path) -> None:
    """Debian without python3-venv: ``python3 -m venv DIR`` fails, ``--without-pip`` works."""
    checkout = _copy_checkout(tmp_path / "mailsink")
    fake = tmp_path / "bin"
    fake.mkdir()
    python = fake / "python3"
    python.write_text(
        "#!/bin/sh\n"
        '[ "$1" = "-m" ] && [ "$2" = "venv" ] && [ "$3" != "--without-pip" ] && {\n'
        '  echo "The virtual environment was not created successfully because ensurepip'
        ' is not available." >&2; exit 1; }\n'
        f'exec {SYSTEM_PYTHON} "$@"\n'
    )
    python.chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)}
    _runs_and_answers(checkout, env)
    assert not (checkout / ".venv" / "bin" / "pip").exists()  # made without pip, as intended
