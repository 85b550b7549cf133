"""The built wheel holds every package and data file, under the mailsink namespace only."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = {
    "mailsink": "mailsink",
    "web": "mailsink/web",
    "pytest_plugin": "mailsink/pytest_plugin",
}


def expected_files() -> set[str]:
    """Return the wheel paths every source module and web asset must have."""
    wanted = set()
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


@pytest.mark.slow
def test_wheel_contains_every_subpackage_and_asset(tmp_path: Path) -> None:
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
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("mailsink-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(expected_files() - names)
    assert missing == [], f"missing from the wheel (add the package to pyproject.toml): {missing}"
    top_level = {name.split("/", 1)[0] for name in names}
    assert {t for t in top_level if not t.startswith("mailsink")} == set()
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mailsink = mailsink.cli:main" in text
    assert "mailsink = mailsink.pytest_plugin.plugin" in text
