"""The plain-address shortcut answers exactly what email-validator would, or leaves it to it."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.core.addresses import AddressError, _plain_address, library_normalised, normalise_address


def library_answer(text: str) -> str | None:
    try:
        return library_normalised(text)
    except EmailNotValidError:
        return None


LABEL = st.text("abcXYZ019-", min_size=1, max_size=8)
TOP = st.sampled_from(
    ["com", "ORG", "io", "test", "local", "localhost", "onion", "arpa", "invalid", "c", "c0"]
)
LOCAL = st.one_of(
    st.text("abcXYZ019._+-", min_size=1, max_size=12),
    st.sampled_from(["Postmaster", "INFO", "sales", "x" * 64, "x" * 65, "é", "a!b", "a..b"]),
)
ADDRESS = st.builds(
    lambda local, labels, top: f"{local}@{'.'.join([*labels, top])}",
    LOCAL,
    st.lists(LABEL, min_size=0, max_size=3),
    TOP,
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(ADDRESS, st.text("abcXY09.@-_+", max_size=30)))
@example("Maria.Lopez@Example.COM")
@example("postmaster@example.com")
@example("a@xn--bcher-kva.example")
@example("a@ab--cd.example")
@example("a@" + "b" * 64 + ".example")
@example("a@mail.local")
@example("a@bench.test")
def test_a_plain_address_gets_the_answer_the_library_would_give(text):
    shortcut = _plain_address(text)
    if shortcut is not None:
        assert shortcut == library_answer(text)


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("maria.lopez@Example.COM", "maria.lopez@example.com"),
        ("Ada_Lovelace+news@mail.Example.org", "Ada_Lovelace+news@mail.example.org"),
        ("new-7-100@bench.example", "new-7-100@bench.example"),
        ("someone@shop.test", "someone@shop.test"),
    ],
)
def test_common_addresses_take_the_shortcut_and_keep_the_local_part_as_typed(typed, stored):
    assert _plain_address(typed) == stored
    assert normalise_address(f"  {typed} ") == stored


@pytest.mark.parametrize(
    "text",
    ["Postmaster@example.com", "a@xn--bcher-kva.example", "a@mail.local", "josé@example.com"],
)
def test_what_the_library_must_decide_is_left_to_it(text):
    assert _plain_address(text) is None
    try:
        expected = library_normalised(text)
    except EmailNotValidError:
        with pytest.raises(AddressError):
            normalise_address(text)
    else:
        assert normalise_address(text) == expected
