"""DKIM, SPF and DMARC verdicts with real dkimpy signatures and keys published via --dns-records.

Each test signs with a key it generates, publishes the public key (and the
SPF/DMARC policies) in a records file, and reads what a receiver would
decide; tampering with one byte must turn ``pass`` into ``fail`` with a
reason.  Real DNS is off throughout (``dns=False``).
"""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest
from api_helpers import make_api

from helpers import dkim_key
from mailsink.checks import auth_check
from mailsink.checks.dns import DnsRecordsError, Resolver, parse_records
from mailsink.config import Settings
from mailsink.message import Envelope
from mailsink.store import MemoryStore

MESSAGE = (
    b"From: Shop <orders@shop.example>\r\n"
    b"To: customer@example.org\r\n"
    b"Subject: Your order\r\n"
    b"Message-ID: <order-1@shop.example>\r\n"
    b"\r\n"
    b"Thank you for your order.\r\n"
)
ENVELOPE = Envelope("bounces@shop.example", ("customer@example.org",), "mta.shop.example",
                    "127.0.0.1:40000")  # fmt: skip


@pytest.fixture(scope="module")
def key() -> tuple[bytes, str]:
    """Return (PEM private key, base64 public key for p=) of a fresh 2048-bit RSA key."""
    return dkim_key()


def _records(tmp_path: Path, public: str, dmarc: str = "v=DMARC1; p=reject") -> str:
    """Write a records file for shop.example (a DKIM key split BIND-style, SPF, DMARC)."""
    path = tmp_path / "records.zone"
    half = len(public) // 2
    path.write_text(
        "; staging DNS for shop.example\n"
        f's1._domainkey.shop.example. 300 IN TXT ( "v=DKIM1; k=rsa; "\n'
        f'    "p={public[:half]}" "{public[half:]}" )\n'
        'shop.example TXT "v=spf1 ip4:127.0.0.0/8 -all"\n'
        f'_dmarc.shop.example TXT "{dmarc}"\n'
    )
    return str(path)


def _signed(pem: bytes, message: bytes = MESSAGE) -> bytes:
    signature: bytes = dkim.sign(message, b"s1", b"shop.example", pem)
    return signature + message


def _settings(records: str) -> Settings:
    return Settings(dns_records=records, dns=False)


def test_a_signed_message_passes_dkim_spf_and_dmarc(tmp_path: Path, key: tuple[bytes, str]) -> None:
    pem, public = key
    report = auth_check(_signed(pem), ENVELOPE, _settings(_records(tmp_path, public)))
    assert report.dkim == "pass"
    [signature] = report.signatures
    assert (signature.domain, signature.selector, signature.algorithm) == (
        "shop.example",
        "s1",
        "rsa-sha256",
    )
    assert signature.body_hash == "pass"
    assert report.spf.result == "pass"
    assert report.dmarc.result == "pass"
    assert report.dmarc.details["Policy"] == "reject"
    assert report.dmarc.details["Alignment"] == {"DKIM": True, "SPF": True}
    assert report.arc.result == "none"
    assert "dkim=pass header.d=shop.example" in report.authentication_results()


def test_one_changed_body_byte_fails_dkim_with_the_body_hash_reason(
    tmp_path: Path, key: tuple[bytes, str]
) -> None:
    pem, public = key
    tampered = _signed(pem).replace(b"Thank you", b"Thank yuo")
    report = auth_check(tampered, ENVELOPE, _settings(_records(tmp_path, public)))
    assert report.dkim == "fail"
    assert report.signatures[0].body_hash == "fail"
    assert "body hash mismatch" in report.signatures[0].reason


def test_a_changed_signed_header_fails_dkim_and_dmarc_without_spf(
    tmp_path: Path, key: tuple[bytes, str]
) -> None:
    pem, public = key
    tampered = _signed(pem).replace(b"Subject: Your order", b"Subject: Your ordex")
    elsewhere = Envelope("bounces@shop.example", (), "mta", "192.0.2.7:25")
    report = auth_check(tampered, elsewhere, _settings(_records(tmp_path, public)))
    assert report.dkim == "fail"
    assert report.signatures[0].body_hash == "pass"
    assert "signed header was changed" in report.signatures[0].reason
    assert report.spf.result == "fail"
    assert report.dmarc.result == "fail"
    assert "no DKIM signature passed" in report.dmarc.reason
    assert "p=reject" in report.dmarc.reason


def test_a_key_missing_from_dns_is_a_permerror_naming_where_it_was_looked_for(
    tmp_path: Path, key: tuple[bytes, str]
) -> None:
    pem, _public = key
    records = tmp_path / "empty.zone"
    records.write_text('shop.example TXT "v=spf1 -all"\n')
    report = auth_check(_signed(pem), ENVELOPE, _settings(str(records)))
    assert report.signatures[0].result == "permerror"
    assert "s1._domainkey.shop.example" in report.signatures[0].reason
    assert report.spf.result == "fail"
    assert report.dmarc.result == "none"


def test_an_unsigned_message_has_dkim_none() -> None:
    report = auth_check(MESSAGE, ENVELOPE, Settings(dns=False))
    assert report.dkim == "none"
    assert report.signatures == []
    assert report.spf.result == "none"
    assert report.dmarc.result == "none"


def test_dmarc_relaxed_alignment_accepts_a_subdomain_signer(
    tmp_path: Path, key: tuple[bytes, str]
) -> None:
    pem, public = key
    path = tmp_path / "sub.zone"
    path.write_text(
        f's1._domainkey.mail.shop.example TXT "v=DKIM1; k=rsa; p={public}"\n'
        '_dmarc.shop.example TXT "v=DMARC1; p=quarantine; adkim=r"\n'
    )
    signed = dkim.sign(MESSAGE, b"s1", b"mail.shop.example", pem) + MESSAGE
    report = auth_check(signed, Envelope("", (), "", ""), _settings(str(path)))
    assert report.dkim == "pass"
    assert report.dmarc.result == "pass"
    strict = path.read_text().replace("adkim=r", "adkim=s")
    path.write_text(strict)
    report = auth_check(signed, Envelope("", (), "", ""), _settings(str(path)))
    assert report.dmarc.result == "fail"
    assert "no passing DKIM signature is aligned with shop.example" in report.dmarc.reason


def test_auth_check_over_the_api(tmp_path: Path, key: tuple[bytes, str]) -> None:
    pem, public = key
    api = make_api(MemoryStore(), _settings(_records(tmp_path, public)))
    try:
        message_id = api.deliver(_signed(pem), mail_from="bounces@shop.example").id
        body = api.get_json(f"/api/v1/message/{message_id}/auth-check")
        assert body["DKIM"]["Result"] == "pass"
        assert body["SPF"]["Result"] == "pass"
        assert body["DMARC"]["Result"] == "pass"
        assert body["AuthenticationResults"].startswith("mailsink; dkim=pass")
    finally:
        api.close()


def test_records_file_parsing_joins_strings_and_skips_ttl_class_and_comments() -> None:
    records = parse_records(
        "# comment line\n"
        'a.example. 3600 IN TXT "one" "two" ; trailing comment\n'
        'A.Example TXT "with \\"quote\\" and \\059 semicolon"\n'
        "a.example A 192.0.2.1\n"
        "b.example MX 10 mx.b.example.\n"
    )
    resolver = Resolver(records, network=False)
    assert resolver.query("a.example", "TXT") == ("onetwo", 'with "quote" and ; semicolon')
    assert resolver.query("A.EXAMPLE.", "A") == ("192.0.2.1",)
    assert resolver.query("a.example", "AAAA") == ()
    assert resolver.query("b.example", "MX") == ("10 mx.b.example.",)
    assert resolver.query("unlisted.example", "TXT") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('x.example TXT "unclosed\n', "unbalanced quote"),
        ('x.example TXT ( "a"\n', "never closed"),
        ("x.example SRV 1 2 3 y\n", "TYPE one of"),
        ("x.example TXT\n", "without a value"),
    ],
)
def test_a_bad_records_file_says_which_line(text: str, message: str) -> None:
    with pytest.raises(DnsRecordsError, match=message):
        parse_records(text)


def test_dns_queries_per_check_are_capped() -> None:
    resolver = Resolver(parse_records('a.example TXT "x"\n'), network=False, max_queries=2)
    resolver.query("a.example", "TXT")
    resolver.query("a.example", "TXT")
    from mailsink.checks.dns import DnsTempError

    with pytest.raises(DnsTempError, match="more than 2"):
        resolver.query("a.example", "TXT")


def test_real_dns_time_per_check_is_capped() -> None:
    from mailsink.checks.dns import DnsTempError

    resolver = Resolver(network=True, total_timeout=0)
    with pytest.raises(DnsTempError, match="DNS time is used up"):
        resolver.query("example.com", "TXT")
