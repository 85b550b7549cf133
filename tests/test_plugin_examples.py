"""The example projects in tests/examples/ pass when run as their own pytest sessions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).parent / "examples"


def run_example(pytester: pytest.Pytester, name: str, *args: str) -> pytest.RunResult:
    """Copy an example project into a temporary folder and run pytest there."""
    shutil.copytree(EXAMPLES / name, pytester.path, dirs_exist_ok=True)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_django_view_sends_over_starttls_with_the_certificate_trusted(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("django")
    pytest.importorskip("pytest_django")
    run_example(pytester, "django_signup").assert_outcomes(passed=2)


def test_django_example_under_two_xdist_workers(pytester: pytest.Pytester) -> None:
    pytest.importorskip("django")
    pytest.importorskip("pytest_django")
    run_example(pytester, "django_signup", "-n", "2").assert_outcomes(passed=2)


def test_flask_mail_app_sends_to_the_fixture(pytester: pytest.Pytester) -> None:
    pytest.importorskip("flask_mail")
    run_example(pytester, "flask_mail_app").assert_outcomes(passed=3)
