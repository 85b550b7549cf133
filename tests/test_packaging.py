"""The built wheel: every package and data file under the mailsink namespace, typed, runnable.

One wheel is built per test module (``pip wheel``, as ``pip install .`` does) and
installed, not editable, into a throwaway venv whose dependencies come from this
venv through a ``.pth`` path line (so no editable-install finder is loaded).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest

from procs import start_mailsink

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = {
    "mailsink": "mailsink",
    "web": "mailsink/web",
    "pytest_plugin": "mailsink/pytest_plugin",
}

pytestmark = pytest.mark.slow


def expected_files() -> set[str]:
    """Return the wheel paths every source module and web asset must have."""
    wanted = {"mailsink/py.typed"}
    for folder, target in SOURCE_DIRS.items():
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            relative = path.relative_to(ROOT / folder)
            is_asset = relative.parts[0] in ("templates", "static")
            is_data = relative.parts[:2] == ("checks", "data")  # the caniemail data set
            if path.suffix == ".py" or (folder == "web" and is_asset) or is_data:
                wanted.add(f"{target}/{relative.as_posix()}")
    return wanted


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the source tree.

    A copy, because setuptools builds in the tree's own ``build/`` folder and
    xdist workers running this module at the same time collided there.
    """
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "mailsink"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "test-artifacts"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        timeout=300,
    )
    return next(out.glob("mailsink_server-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the wheel into a new venv; return that venv's python."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    return python


def test_wheel_contains_every_subpackage_and_asset(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(expected_files() - names)
    assert missing == [], f"missing from the wheel (add the package to pyproject.toml): {missing}"
    top_level = {name.split("/", 1)[0] for name in names}
    assert {t for t in top_level if not t.startswith("mailsink")} == set()
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mailsink = mailsink.cli:main" in text
    assert "mailsink = mailsink.pytest_plugin.plugin" in text
    # "mailsink" on PyPI is someone else's project: the distribution has its own name.
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "\nName: mailsink-server\n" in zipfile.ZipFile(wheel).read(metadata).decode()


USER_TEST = """\
from mailsink.pytest_plugin import MailSink, Message


def test_welcome(mailsink: MailSink) -> None:
    message: Message = mailsink.assert_sent(to="a@example.test")
    print(message.subject.upper())
    mailsink.no_such_method()  # type: ignore[attr-defined]
"""


def test_a_users_mypy_strict_sees_the_installed_package_typed(
    installed: Path, tmp_path: Path
) -> None:
    # The ignore is needed only if MailSink is a real class: were the package untyped
    # (no py.typed), mypy would skip it and report the ignore as unused.
    (tmp_path / "test_user.py").write_text(USER_TEST)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-executable",
            str(installed),
            "--cache-dir",
            str(tmp_path / "cache"),
            "test_user.py",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_m_mailsink_runs_from_the_repository_root(installed: Path) -> None:
    # From the root, the source folder mailsink/ shadows the installed package, and
    # mailsink.web / mailsink.pytest_plugin live in web/ and pytest_plugin/ beside it.
    version = subprocess.run(
        [str(installed), "-m", "mailsink", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("mailsink ")
    running = start_mailsink(
        "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--no-tls",
        python=str(installed),
        cwd=str(ROOT),
    )  # fmt: skip
    try:
        assert running.web_url is not None
        with urllib.request.urlopen(running.web_url + "/readyz", timeout=10) as response:
            assert json.load(response)["messages"] == 0
        plugin = subprocess.run(
            [str(installed), "-c", "import mailsink.pytest_plugin.plugin, mailsink.web.api"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert plugin.returncode == 0, plugin.stderr
    finally:
        running.process.send_signal(signal.SIGTERM)
        _out, err = running.process.communicate(timeout=20)
    assert running.process.returncode == 0, err
