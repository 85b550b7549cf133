"""The option table: every flag, variable, default and README row comes from one row."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mailsink.cli import settings_from_args
from mailsink.config import COMMAND_MAX_MESSAGES, Settings
from mailsink.flags import OPTIONS, options_markdown
from procs import start_mailsink

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_defaults_of_the_table_are_the_defaults_of_settings() -> None:
    # One deliberate difference: the command bounds the mailbox, Settings() does not
    # (embedding code and the pytest plugin choose their own).
    expected = dataclasses.replace(Settings(), max_messages=COMMAND_MAX_MESSAGES)
    assert settings_from_args([], {}) == expected
    assert Settings().max_messages == 0


def test_readme_option_table_is_the_one_the_table_makes() -> None:
    assert options_markdown() in README.read_text(), (
        "README's option table is out of date; paste the output of\n"
        "python -c 'from mailsink.flags import options_markdown; print(options_markdown())'"
    )


def test_every_settings_field_but_the_derived_ones_has_a_flag() -> None:
    filled = {field for option in OPTIONS for field in option.fields()}
    if {"relay_url", "relay_config"} <= filled:
        filled.add("relay")  # the --relay* rows fill it together (flags._relay)
    assert set(Settings.__dataclass_fields__) - filled == set()


def test_every_flag_has_its_environment_variable() -> None:
    for option in OPTIONS:
        assert option.env == "MAILSINK_" + option.flag.upper().replace("-", "_")


def test_new_flags_reach_their_settings() -> None:
    settings = settings_from_args(
        [
            "--cors-origin",
            "http://a.test,http://b.test",
            "--cors-origin",
            "https://c.test:8443",
            "--http-threads",
            "8",
            "--max-request-size",
            "2M",
        ],
        {},
    )
    assert settings.cors_origins == ("http://a.test", "http://b.test", "https://c.test:8443")
    assert settings.http_threads == 8
    assert settings.max_request_bytes == 2 * 1024 * 1024


def test_new_environment_variables_reach_their_settings() -> None:
    settings = settings_from_args(
        [],
        {
            "MAILSINK_CORS_ORIGIN": "*",
            "MAILSINK_HTTP_THREADS": "12",
            "MAILSINK_MAX_REQUEST_SIZE": "512K",
        },
    )
    assert (settings.cors_origins, settings.http_threads, settings.max_request_bytes) == (
        ("*",),
        12,
        512 * 1024,
    )


def test_a_repeated_flag_replaces_the_environment() -> None:
    settings = settings_from_args(
        ["--cors-origin", "http://flag.test"], {"MAILSINK_CORS_ORIGIN": "http://env.test"}
    )
    assert settings.cors_origins == ("http://flag.test",)


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--store-sync", "fast"], {}, "--store-sync"),
        ([], {"MAILSINK_STORE_SYNC": "fast"}, "MAILSINK_STORE_SYNC"),
        (["--idle-timeout", "0"], {}, "--idle-timeout"),
        (["--http-threads", "0"], {}, "--http-threads"),
        (["--max-request-size", "0"], {}, "--max-request-size"),
        (["--hostname", "two words"], {}, "--hostname"),
        (["--cors-origin", "http://app.test/path"], {}, "--cors-origin"),
        (["--tls-key", "key.pem"], {}, "--tls-key"),
        ([], {"MAILSINK_TLS": "maybe"}, "MAILSINK_TLS"),
        ([], {"MAILSINK_MAX_SIZE": "lots"}, "MAILSINK_MAX_SIZE"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_option(
    args: list[str], env: dict[str, str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        settings_from_args(args, env)
    assert caught.value.code == 2
    assert named in capsys.readouterr().err


def test_cors_and_request_size_flags_reach_the_running_server() -> None:
    running = start_mailsink(
        "--smtp",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--no-tls",
        "--cors-origin",
        "http://app.test",
        "--max-request-size",
        "1K",
        "--http-threads",
        "6",
    )
    try:
        assert running.web_url is not None
        request = urllib.request.Request(
            running.web_url + "/api/v1/info", headers={"Origin": "http://app.test"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "http://app.test"
            json.load(response)
        big = urllib.request.Request(
            running.web_url + "/api/v1/messages",
            data=b"{" + b" " * 4096 + b"}",
            headers={"Content-Type": "application/json"},
            method="PUT",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(big, timeout=10)
        assert refused.value.code == 413
        refused.value.close()
    finally:
        running.process.send_signal(signal.SIGTERM)
        _out, err = running.process.communicate(timeout=20)
    assert running.process.returncode == 0, err


def test_help_lists_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mailsink", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    for option in OPTIONS:
        assert f"--{option.flag}" in result.stdout


def test_off_on_the_command_line_switches_a_listener_off() -> None:
    # "off" parses to None; it must not read as "flag not given" (the default 8025 then).
    assert settings_from_args(["--http", "off"], {}).http_port is None
    assert settings_from_args(["--http", "off"], {"MAILSINK_HTTP": "127.0.0.1:0"}).http_port is None
    assert settings_from_args([], {"MAILSINK_HTTP": "off"}).http_port is None
