"""The SQLite word index's fast splits: joints are ``JOINT``'s matches, words ``WORD``'s."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailsink.store.sqlite.words import JOINT, WORD, _joints, words_of

TEXT = st.text(alphabet=st.sampled_from("ab19.@-/_:;~ \n\x00Zé\u00c0\U0001f600"), max_size=40)


@settings(max_examples=2000, deadline=None)
@given(TEXT)
def test_the_joints_are_the_matches_of_the_joint_pattern(text: str) -> None:
    expected = [(m.group(1), m.group(2), text[m.end()]) for m in JOINT.finditer(text)]
    assert _joints(text) == expected


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_the_joints_of_ascii_text_are_the_matches_of_the_joint_pattern(text: str) -> None:
    """ASCII text takes the byte-class path of ``_joints``; all of ASCII, controls included."""
    expected = [(m.group(1), m.group(2), text[m.end()]) for m in JOINT.finditer(text)]
    assert _joints(text) == expected


def test_joints_of_an_address_a_number_and_plain_punctuation() -> None:
    assert _joints("to a@b.test, 1.5 - x.. y z..w") == [
        ("a", "@", "b"),
        ("b", ".", "t"),
        ("1", ".", "5"),
        ("z", "..", "w"),
    ]


ASCII = st.text(alphabet=st.characters(max_codepoint=127), max_size=60)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(ASCII, TEXT))
def test_the_words_are_the_word_patterns_matches(text: str) -> None:
    assert words_of(text) == set(WORD.findall(text))
