"""The address fast path (a domain validated once, cached) decides exactly as email-validator."""

from __future__ import annotations

import string

import pytest
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter_service.addresses import (
    Address,
    InvalidAddress,
    _fast_normalize,
    normalize_address,
)

# Pieces that are valid, invalid, or that change how an address is split or normalized.
LOCAL_PIECES = ["a", "Bob", "x.y", "..", ".", "+tag", "-", "_", "~", '"', "\\", " ", "é",
                "Postmaster", "ABUSE", "a" * 40, "<", ">", "(", ",", "ß", "\u0301", "\x00"]
DOMAIN_PIECES = ["example.com", "EXAMPLE.org", "münchen.de", "xn--mnchen-3ya.de", "localhost",
                 "-a.com", "a-.com", "a..com", ".com", "com.", "[127.0.0.1]", "x" * 70 + ".com",
                 "ｅｘａｍｐｌｅ.com", "a_b.com", "a b.com", "invalid", "test", "e\u0301.com",
                 "a.b.c.d.e.f.g.h.example.net", ("y" * 60 + ".") * 4 + "com", "é.xn--p1ai"]
pieces = st.lists(st.sampled_from(LOCAL_PIECES), max_size=4).map("".join)
texts = st.one_of(
    st.tuples(pieces, st.sampled_from(["@", "@@", " @", "@ ", ""]),
              st.lists(st.sampled_from(DOMAIN_PIECES), min_size=1, max_size=2).map("".join))
    .map("".join),
    st.text(string.printable + "éßü@", max_size=40),
    st.emails().map(str),
)


def full_path(text: str) -> Address | None:
    """Return what email-validator alone makes of ``text`` (as normalize_address keeps it)."""
    try:
        result = validate_email(text, check_deliverability=False, strict=True)
    except EmailNotValidError:
        return None
    local, _, domain = result.normalized.rpartition("@")
    normalized = f"{local}@{domain.lower()}"
    return Address(email=normalized, key=normalized.lower())


@settings(max_examples=600, deadline=None)
@given(texts)
def test_fast_path_accepts_only_what_email_validator_accepts_and_alike(raw: str) -> None:
    text = raw.strip()
    fast = _fast_normalize(text)
    if fast is not None:
        assert full_path(text) == fast


# The app only gives flask-babel a context for refusals' messages: nothing to reset.
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts)
def test_normalize_address_decides_as_email_validator(app: Flask, raw: str) -> None:
    text = raw.strip()
    with app.test_request_context():
        try:
            ours: Address | None = normalize_address(raw)
        except InvalidAddress:
            ours = None
    assert ours == (full_path(text) if text and len(text) <= 254 else None)


@pytest.mark.parametrize("text", ["reader@example.com", "a.b+c@Sub.Example.ORG",
                                  "x@münchen.de", "x@xn--mnchen-3ya.de"])
def test_plain_addresses_take_the_fast_path(text: str) -> None:
    assert _fast_normalize(text) == full_path(text)


@pytest.mark.parametrize("text", ["Postmaster@example.com", "josé@example.com",
                                  '"a b"@example.com', "a@localhost", "a@[127.0.0.1]",
                                  "Bob <bob@example.com>"])
def test_unusual_addresses_go_to_email_validator(text: str) -> None:
    assert _fast_normalize(text) is None
