"""Values are stored whatever the client sends: cut to their limit, with NUL and broken UTF-8 replaced."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orca.sanitize import REPLACEMENT, clean_header, clean_text


def test_long_values_are_cut_at_the_limit() -> None:
    assert clean_text("x" * 50, 10) == "x" * 10


def test_nul_is_replaced() -> None:
    assert clean_text("a\x00b", 10) == f"a{REPLACEMENT}b"


def test_lone_surrogates_are_replaced() -> None:
    assert clean_text("a\udcffb", 10) == f"a{REPLACEMENT}b"


def test_utf8_header_bytes_decoded_as_latin1_are_recovered() -> None:
    assert clean_header("tÃ¤st", 100) == "täst"


def test_invalid_utf8_header_bytes_become_replacement_characters() -> None:
    assert clean_header("a\xffb", 100) == f"a{REPLACEMENT}b"


def test_absent_header_stays_absent() -> None:
    assert clean_header(None, 10) is None


@given(st.text(), st.integers(min_value=1, max_value=64))
def test_any_text_becomes_storable_text_within_the_limit(value: str, limit: int) -> None:
    cleaned = clean_text(value, limit)
    assert len(cleaned) <= limit
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")
