"""Tests for parsing the search language into a Query."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from mailsink.search import (
    ADDRESS_FIELDS,
    MAX_QUERY_LENGTH,
    MAX_TERMS,
    Query,
    SearchError,
    Term,
    parse_query,
)


def utc_ts(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> float:
    """Return the unix timestamp of a UTC datetime."""
    utc = timezone(timedelta(0))
    return datetime(year, month, day, hour, minute, second, tzinfo=utc).timestamp()


def only(text: str, tz: str | None = None) -> Term:
    """Parse text and return its single term."""
    query = parse_query(text, tz)
    assert len(query.terms) == 1, query
    return query.terms[0]


# --- empty queries and free text ----------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\t\n \r", '""', "- !"])
def test_blank_query_is_empty(text: str) -> None:
    assert parse_query(text).is_empty()
    assert parse_query(text) == Query(())


def test_non_empty_query_is_not_empty() -> None:
    assert not parse_query("hello").is_empty()


def test_free_words_become_lowercased_text_terms() -> None:
    assert parse_query("Hello WORLD").terms == (
        Term("text", "hello"),
        Term("text", "world"),
    )


def test_any_whitespace_separates_terms() -> None:
    query = parse_query("a\tb\nc\r\nd\u00a0e")
    assert [t.value for t in query.terms] == ["a", "b", "c", "d", "e"]


def test_quoted_phrase_is_one_text_term() -> None:
    assert parse_query('"Hello   World" again').terms == (
        Term("text", "hello   world"),
        Term("text", "again"),
    )


def test_unterminated_quote_makes_rest_one_phrase() -> None:
    assert parse_query('one "two three').terms == (
        Term("text", "one"),
        Term("text", "two three"),
    )


def test_quoted_field_syntax_is_literal_text() -> None:
    assert only('"is:read"') == Term("text", "is:read")


def test_text_without_letters_or_digits_is_ignored() -> None:
    assert parse_query('hello @ ... "  "').terms == (Term("text", "hello"),)


def test_unicode_text_is_lowercased() -> None:
    assert only("ÄRGER") == Term("text", "ärger")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("foo:bar", "foo:bar"),
        ("http://example.com/x", "http://example.com/x"),
        ("Text:Hello", "text:hello"),
        ("12:30", "12:30"),
    ],
)
def test_unknown_prefix_is_free_text(text: str, value: str) -> None:
    assert only(text) == Term("text", value)


def test_negated_unknown_prefix_is_negated_text() -> None:
    assert only("-foo:bar") == Term("text", "foo:bar", negate=True)


# --- negation -----------------------------------------------------------------


@pytest.mark.parametrize("sign", ["-", "!"])
def test_negated_word_is_parsed(sign: str) -> None:
    assert only(f"{sign}spam") == Term("text", "spam", negate=True)


@pytest.mark.parametrize("sign", ["-", "!"])
def test_negated_quoted_phrase_is_parsed(sign: str) -> None:
    assert only(f'{sign}"Quoted Phrase"') == Term("text", "quoted phrase", negate=True)


@pytest.mark.parametrize("sign", ["-", "!"])
def test_negated_from_filter_is_parsed(sign: str) -> None:
    assert only(f"{sign}from:bob") == Term("from", "bob", negate=True)


def test_negated_is_filter_is_parsed() -> None:
    assert only("!is:read") == Term("is", "read", negate=True)


def test_lone_minus_is_ignored_not_negation() -> None:
    assert parse_query("- hello").terms == (Term("text", "hello"),)


def test_only_first_minus_negates() -> None:
    assert only("--x") == Term("text", "-x", negate=True)


def test_quoted_minus_is_not_negation() -> None:
    assert only('"-x"') == Term("text", "-x")


# --- address fields -----------------------------------------------------------


@pytest.mark.parametrize("field", sorted(ADDRESS_FIELDS))
def test_address_filter_is_substring_match(field: str) -> None:
    assert only(f"{field}:Bob@Example.COM") == Term(field, "bob@example.com")


@pytest.mark.parametrize("field", sorted(ADDRESS_FIELDS))
def test_exact_address_filter_is_parsed(field: str) -> None:
    assert only(f"{field}:=A@X.com") == Term(field, "a@x.com", exact=True)


def test_exact_address_strips_angle_brackets() -> None:
    assert only("to:=<a@x.com>") == Term("to", "a@x.com", exact=True)


def test_negated_exact_address_is_parsed() -> None:
    assert only("-cc:=a@x.com") == Term("cc", "a@x.com", negate=True, exact=True)


def test_quoted_address_value_keeps_spaces() -> None:
    assert only('from:"Bob Smith"') == Term("from", "bob smith")


@pytest.mark.parametrize("text", ["TO:bob", "To:bob", "tO:bob"])
def test_field_names_are_case_insensitive(text: str) -> None:
    assert only(text) == Term("to", "bob")


def test_reply_to_field_is_parsed() -> None:
    assert only("Reply-To:help") == Term("reply-to", "help")


@pytest.mark.parametrize("text", ["to:", "from:=", 'cc:""', "-bcc:"])
def test_empty_address_filter_is_ignored(text: str) -> None:
    assert parse_query(text).is_empty()


# --- subject, message-id, tag -------------------------------------------------


def test_subject_filter_is_parsed() -> None:
    assert only("subject:Invoice") == Term("subject", "invoice")


def test_quoted_subject_filter_is_parsed() -> None:
    assert only('subject:"Hello World"') == Term("subject", "hello world")


def test_message_id_filter_strips_angle_brackets() -> None:
    assert only("message-id:<ABC@host>") == Term("message-id", "abc@host")


def test_tag_filter_is_parsed() -> None:
    assert only("tag:Important") == Term("tag", "important")


def test_quoted_tag_filter_is_parsed() -> None:
    assert only('-tag:"to do"') == Term("tag", "to do", negate=True)


@pytest.mark.parametrize("text", ["subject:", "message-id:<>", "tag:"])
def test_empty_string_filter_is_ignored(text: str) -> None:
    assert parse_query(text).is_empty()


# --- is: and has: -------------------------------------------------------------


@pytest.mark.parametrize("value", ["read", "unread", "tagged"])
def test_is_filter_is_parsed(value: str) -> None:
    assert only(f"is:{value.upper()}") == Term("is", value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("has:attachment", "attachment"),
        ("has:attachments", "attachment"),
        ("has:inline", "inline"),
        ("HAS:Inlines", "inline"),
    ],
)
def test_has_filter_is_parsed(text: str, value: str) -> None:
    assert only(text) == Term("has", value)


@pytest.mark.parametrize("text", ["is:foo", "is:", "-is:starred"])
def test_bad_is_value_raises(text: str) -> None:
    with pytest.raises(SearchError, match="read, tagged, unread"):
        parse_query(text)


@pytest.mark.parametrize("text", ["has:pdf", "has:"])
def test_bad_has_value_raises(text: str) -> None:
    with pytest.raises(SearchError, match="attachment, inline"):
        parse_query(text)


# --- sizes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("500", 500),
        ("500b", 500),
        ("10K", 10 * 1024),
        ("10kb", 10 * 1024),
        ("2M", 2 * 1024**2),
        ("2MB", 2 * 1024**2),
        ("1.5mb", 1.5 * 1024**2),
        ("1G", 1024**3),
        ("3gB", 3 * 1024**3),
        ("0", 0),
    ],
)
def test_larger_size_is_parsed_in_bytes(value: str, number: float) -> None:
    assert only(f"larger:{value}") == Term("larger", value.lower(), number=number)


def test_negated_smaller_size_is_parsed() -> None:
    assert only("-smaller:2MB") == Term("smaller", "2mb", negate=True, number=2 * 1024**2)


@pytest.mark.parametrize(
    "text", ["larger:abc", "larger:", "smaller:10T", "larger:-5", "smaller:1.k"]
)
def test_bad_size_raises(text: str) -> None:
    with pytest.raises(SearchError, match="not a valid size"):
        parse_query(text)


# --- dates --------------------------------------------------------------------


def test_after_date_is_start_of_that_day_in_utc_by_default() -> None:
    term = only("after:2024-01-01")
    assert term == Term("after", "2024-01-01", number=utc_ts(2024, 1, 1))


def test_before_date_is_start_of_that_day() -> None:
    term = only("before:2024-01-31")
    assert term.field == "before"
    assert term.number == utc_ts(2024, 1, 31)


def test_date_is_resolved_in_given_time_zone() -> None:
    term = only("before:2024-01-31", tz="Europe/Berlin")
    assert term.number == utc_ts(2024, 1, 30, 23)


def test_date_in_summer_time_uses_dst_offset() -> None:
    term = only("after:2024-07-01", tz="America/New_York")
    assert term.number == utc_ts(2024, 7, 1, 4)


def test_negated_after_date_is_parsed() -> None:
    term = only("!after:2024-01-01")
    assert term.negate
    assert term.number == utc_ts(2024, 1, 1)


def test_naive_datetime_is_resolved_in_given_time_zone() -> None:
    term = only("after:2024-01-31T10:30", tz="Europe/Berlin")
    assert term.number == utc_ts(2024, 1, 31, 9, 30)


def test_datetime_with_z_ignores_given_time_zone() -> None:
    term = only("before:2024-01-31T10:30:15Z", tz="Europe/Berlin")
    assert term.number == utc_ts(2024, 1, 31, 10, 30, 15)


def test_datetime_with_offset_is_parsed() -> None:
    term = only("after:2024-01-31T10:00:00.5-02:00")
    assert term.number == utc_ts(2024, 1, 31, 12) + 0.5


def test_quoted_datetime_with_space_is_parsed() -> None:
    term = only('before:"2024-01-31 08:00"')
    assert term.number == utc_ts(2024, 1, 31, 8)


@pytest.mark.parametrize(
    "text",
    [
        "before:2024-13-01",
        "after:2024-02-30",
        "after:yesterday",
        "before:31/01/2024",
        "after:",
        "after:2024-01-31T25:00",
        "after:2024-01-31T10:00+01:75",
    ],
)
def test_bad_date_raises(text: str) -> None:
    with pytest.raises(SearchError, match="not a valid date"):
        parse_query(text)


@pytest.mark.parametrize("tz", ["Nowhere/Land", "../etc/passwd", "/etc/localtime"])
def test_bad_time_zone_raises(tz: str) -> None:
    with pytest.raises(SearchError, match="time zone"):
        parse_query("hello", tz=tz)


def test_empty_time_zone_means_utc() -> None:
    assert only("after:2024-01-01", tz="").number == utc_ts(2024, 1, 1)


# --- header: ------------------------------------------------------------------


def test_header_presence_filter_is_parsed() -> None:
    assert only("header:X-Campaign") == Term("header", "", header="x-campaign")


def test_header_value_filter_is_parsed() -> None:
    assert only("header:X-Campaign=Spring") == Term("header", "spring", header="x-campaign")


def test_header_filter_quoted_whole_is_parsed() -> None:
    assert only('header:"X-Campaign=Spring Sale"') == Term(
        "header", "spring sale", header="x-campaign"
    )


def test_header_filter_quoted_value_is_parsed() -> None:
    assert only('header:X-Campaign="spring sale"') == Term(
        "header", "spring sale", header="x-campaign"
    )


def test_header_value_may_contain_equals() -> None:
    assert only("header:X-Q=a=b").value == "a=b"


def test_negated_header_filter_is_parsed() -> None:
    assert only("-header:X-Spam") == Term("header", "", negate=True, header="x-spam")


@pytest.mark.parametrize("text", ["header:", "header:=spring", 'header:"  =x"'])
def test_empty_header_name_raises(text: str) -> None:
    with pytest.raises(SearchError, match="header name"):
        parse_query(text)


def test_header_name_with_space_raises() -> None:
    with pytest.raises(SearchError, match="not a valid header name"):
        parse_query('header:"X Campaign=spring"')


# --- combinations and limits --------------------------------------------------


def test_mixed_query_keeps_term_order() -> None:
    query = parse_query(
        'invoice -from:bob@x.com to:=a@x.com subject:"Q1 report" is:unread '
        "has:attachment larger:1M before:2024-02-01 header:X-Env=prod !tag:old"
    )
    assert [(t.field, t.negate) for t in query.terms] == [
        ("text", False),
        ("from", True),
        ("to", False),
        ("subject", False),
        ("is", False),
        ("has", False),
        ("larger", False),
        ("before", False),
        ("header", False),
        ("tag", True),
    ]


def test_query_at_length_limit_is_accepted() -> None:
    assert parse_query("a" * MAX_QUERY_LENGTH).terms == (Term("text", "a" * MAX_QUERY_LENGTH),)


def test_too_long_query_raises() -> None:
    with pytest.raises(SearchError, match="too long"):
        parse_query("a" * (MAX_QUERY_LENGTH + 1))


def test_query_at_term_limit_is_accepted() -> None:
    assert len(parse_query(" ".join(["w"] * MAX_TERMS)).terms) == MAX_TERMS


def test_too_many_terms_raises() -> None:
    with pytest.raises(SearchError, match="too many terms"):
        parse_query(" ".join(["w"] * (MAX_TERMS + 1)))


def test_search_error_is_value_error() -> None:
    assert issubclass(SearchError, ValueError)


def test_terms_are_immutable() -> None:
    term = only("hello")
    with pytest.raises(AttributeError):
        term.value = "x"  # type: ignore[misc]
