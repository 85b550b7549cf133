"""The content checks' flags: off or offline by default, each mapped to its setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_helpers import make_api

from mailsink.cli import settings_from_args
from mailsink.config import Settings
from mailsink.store import MemoryStore


def test_checks_are_off_or_offline_by_default() -> None:
    s = settings_from_args([], {})
    assert (s.link_check, s.link_check_allow_private, s.spamassassin) == (False, False, None)
    assert (s.dns_records, s.dns) == (None, True)


def test_check_flags_and_variables_set_the_settings(tmp_path: Path) -> None:
    records = tmp_path / "r.zone"
    records.write_text('a.example TXT "v=spf1 -all"\n')
    s = settings_from_args(
        ["--link-check", "--spamassassin", "127.0.0.1:783", "--dns-records", str(records)],
        {"MAILSINK_DNS": "off", "MAILSINK_LINK_CHECK_ALLOW_PRIVATE": "1"},
    )
    assert (s.link_check, s.link_check_allow_private) == (True, True)
    assert s.spamassassin == "127.0.0.1:783"
    assert (s.dns_records, s.dns) == (str(records), False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spamassassin", "nonsense"], "--spamassassin"),
        (["--dns", "maybe"], "--dns"),
        (["--dns-records", "/no/such/file.zone"], "--dns-records"),
    ],
)
def test_bad_check_flags_stop_start_up_with_the_flag_named(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        settings_from_args(args, {})
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_records_file_that_breaks_after_start_is_a_503_not_a_crash(tmp_path: Path) -> None:
    records = tmp_path / "r.zone"
    records.write_text('a.example TXT "v=spf1 -all"\n')
    api = make_api(MemoryStore(), Settings(dns=False, dns_records=str(records)))
    try:
        message_id = api.deliver().id
        assert api.get_json(f"/api/v1/message/{message_id}/auth-check")["DKIM"]["Result"] == "none"
        records.write_text('a.example TXT "unclosed\n')
        error = api.get_json(f"/api/v1/message/{message_id}/auth-check", status=503)
        assert "line 1: unbalanced quote" in error["Error"]
    finally:
        api.close()
