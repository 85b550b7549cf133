"""Settings refuse, when built, any value the sink cannot run with, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from mailsink.config import Settings, SettingsError


def test_the_defaults_are_valid() -> None:
    Settings()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("smtp_port", -1),
        ("smtp_port", 65536),
        ("smtp_port", None),
        ("smtp_port", "1025"),
        ("smtp_port", True),
        ("smtps_port", 70000),
        ("http_port", -5),
        ("store_sync", "fast"),
        ("store", None),
        ("max_messages", -1),
        ("max_size", -1),
        ("max_size", 1.5),
        ("max_recipients", 0),
        ("idle_timeout", 0),
        ("idle_timeout", -3.0),
        ("idle_timeout", float("nan")),
        ("idle_timeout", "300"),
        ("http_threads", 0),
        ("max_request_bytes", 0),
        ("hostname", ""),
        ("hostname", "two words"),
        ("hostname", "evil\r\n250 injected"),
        ("tls", "yes"),
        ("tls_cert", 5),
        ("auth_users", (("", "password"),)),
        ("auth_users", (("user",),)),
        ("auth_users", ["user", "password"]),
        ("allowed_hosts", "example.test"),
        ("cors_origins", ("http://app.test/",)),
        ("cors_origins", ("app.test",)),
        ("cors_origins", "http://app.test"),
        ("ui_auth", (("", "pw"),)),
        ("ui_auth", ("user:pw",)),
        ("ui_auth_file", 5),
        ("ui_tls", "on"),
        ("ui_tls_key", "k.pem"),
        ("webroot", "mail"),
        ("webroot", "/mail/../etc"),
        ("webroot", "/a b/"),
        ("webroot", "//"),
        ("label", "x" * 101),
        ("label", "two\nlines"),
        ("max_age", -1),
        ("max_age", float("inf")),
        ("verbose", True),  # with quiet below
    ],
)
def test_a_bad_value_is_a_value_error_naming_the_field(field: str, value: Any) -> None:
    extra: dict[str, Any] = {"quiet": True} if field == "verbose" else {}
    with pytest.raises(ValueError, match=f"^{field}: ") as caught:
        Settings(**{field: value}, **extra)
    assert isinstance(caught.value, SettingsError)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "options",
    [
        {"smtp_port": 0, "http_port": None, "smtps_port": 65535},
        {"store_sync": "full", "store": "/tmp/x.db"},
        {"max_messages": 0, "max_size": 0, "max_recipients": 1},
        {"idle_timeout": 0.5, "http_threads": 1, "max_request_bytes": 1},
        {"hostname": "mx.example.test"},
        {"tls_cert": "c.pem", "tls_key": "k.pem"},
        {"auth_users": (("user", ""),)},
        {"cors_origins": ("*", "http://localhost:3000", "https://app.test")},
        {"webroot": "/mail/", "label": "Staging · EU", "max_age": 1800.0},
        {"webroot": "/a/b.c~d-e", "ui_tls_cert": "c.pem", "ui_tls_key": "k.pem"},
        {"ui_auth": (("ann", "pw:with:colons"),), "ui_auth_file": "users.htpasswd"},
    ],
)
def test_edge_values_that_work_are_accepted(options: dict[str, Any]) -> None:
    Settings(**options)


def test_a_key_without_its_certificate_is_refused() -> None:
    with pytest.raises(SettingsError, match="tls_key"):
        Settings(tls_key="k.pem")
