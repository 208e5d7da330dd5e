"""Property-based tests: address normalization, the token round trip, any address signs up."""

from __future__ import annotations

import csv
import itertools
import re
import string
import zlib
from pathlib import Path
from unittest import mock

import pytest
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from newsletter_service import tokens
from newsletter_service.addresses import InvalidAddress, normalize_address
from newsletter_service.tokens import (
    InvalidToken,
    Purpose,
    lasting_token_maker,
    make_lasting_token,
    make_token,
    read_lasting_token,
    read_token,
    token_maker,
)

from .factories import make_newsletter

atom = st.text(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-", min_size=1,
               max_size=20)
local_parts = st.lists(atom, min_size=1, max_size=3).map(".".join)
labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
domains = st.tuples(st.lists(labels, min_size=1, max_size=3),
                    st.sampled_from(["com", "org", "net", "de", "io"])).map(
    lambda parts: ".".join([*parts[0], parts[1]]))
addresses = st.tuples(local_parts, domains).map(lambda p: f"{p[0]}@{p[1]}")


@given(addresses)
def test_normalizing_twice_changes_nothing(address: str) -> None:
    first = normalize_address(address)
    assert normalize_address(first.email) == first


@given(addresses)
def test_case_variants_share_one_key(address: str) -> None:
    assert normalize_address(address.upper()).key == normalize_address(address).key


@given(addresses)
def test_domain_is_lower_case_and_local_part_kept(address: str) -> None:
    result = normalize_address(address)
    local, _, domain = result.email.rpartition("@")
    assert domain == domain.lower()
    assert local == address.rpartition("@")[0]


@given(st.text(max_size=300))
def test_any_input_is_an_address_or_a_clear_refusal(text: str) -> None:
    try:
        result = normalize_address(text)
    except InvalidAddress as error:
        assert str(error)  # a message the reader can act on
    else:
        assert len(result.email) <= 254 and "@" in result.email
        assert "\r" not in result.email and "\n" not in result.email


@given(st.text(string.ascii_letters + string.digits + ".", min_size=1, max_size=30),
       st.sampled_from(["\r\nBcc: x@evil.example", "\n", "\x00", "\u200b", "\u202e"]))
def test_control_and_invisible_characters_are_refused(local: str, poison: str) -> None:
    with pytest.raises(InvalidAddress):
        normalize_address(f"{local}{poison}@example.com")


pairs = st.lists(st.tuples(st.integers(1, 2**31), st.integers(0, 2**31)), min_size=1,
                 max_size=5)


@given(pairs, st.sampled_from(list(Purpose)))
def test_token_round_trip(subscriptions: list[tuple[int, int]], purpose: Purpose) -> None:
    claims = read_token("key", purpose, make_token("key", purpose, subscriptions))
    assert list(zip(claims.subscription_ids, claims.versions, strict=True)) == subscriptions


@given(pairs)
def test_tokens_do_not_cross_purposes(subscriptions: list[tuple[int, int]]) -> None:
    token = make_token("key", Purpose.confirm, subscriptions)
    with pytest.raises(InvalidToken):
        read_token("key", Purpose.unsubscribe, token)


@settings(max_examples=200)
@given(pairs, st.data())
def test_any_changed_character_breaks_the_token(subscriptions: list[tuple[int, int]],
                                                data: st.DataObject) -> None:
    token = make_token("key", Purpose.confirm, subscriptions)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(string.ascii_letters + string.digits + "-_."))
    assume(replacement != token[position])
    forged = token[:position] + replacement + token[position + 1:]
    try:
        claims = read_token("key", Purpose.confirm, forged)
    except InvalidToken:
        return
    # base64 padding bits: a few spellings decode to the same signed bytes
    assert list(zip(claims.subscription_ids, claims.versions, strict=True)) == subscriptions


@given(pairs, st.sampled_from(list(Purpose)))
def test_lasting_tokens_are_stable_and_read_back_only_with_their_key(
        subscriptions: list[tuple[int, int]], purpose: Purpose) -> None:
    token = lasting_token_maker(["old-key", "key"], purpose)(subscriptions)
    assert token == make_lasting_token("key", purpose, subscriptions)  # the same every time
    claims = read_lasting_token("key", purpose, token)
    assert list(zip(claims.subscription_ids, claims.versions, strict=True)) == subscriptions
    assert claims.issued_at is None
    with pytest.raises(InvalidToken):
        read_lasting_token("another-key", purpose, token)
    with pytest.raises(InvalidToken):  # a lasting token is no dated one
        read_token("key", purpose, token)


# Repetitive ids are the ones zlib could shorten: the fast encoder must compress them too.
repetitive_ids = st.tuples(st.sampled_from("123456789"), st.integers(1, 18)).map(
    lambda digit_count: int(digit_count[0] * digit_count[1]))


@given(st.lists(st.tuples(st.one_of(st.integers(1, 2**62), repetitive_ids),
                          st.integers(0, 1000)), min_size=1, max_size=60),
       st.sampled_from(list(Purpose)))
@example([(111_111_111_111, 1)], Purpose.unsubscribe)  # the shortest JSON that compresses
def test_lasting_tokens_are_what_itsdangerous_would_sign(
        subscriptions: list[tuple[int, int]], purpose: Purpose) -> None:
    # Export and email links stay byte for byte what they were before the fast encoder.
    serializer = URLSafeSerializer(["old-key", "key"], salt=f"newsletter-service.{purpose}.lasting")
    expected = serializer.dumps([[sub_id, version] for sub_id, version in subscriptions])
    assert lasting_token_maker(["old-key", "key"], purpose)(subscriptions) == expected


@given(st.lists(st.tuples(st.one_of(st.integers(1, 2**62), repetitive_ids),
                          st.integers(0, 1000)), min_size=1, max_size=60),
       st.sampled_from(list(Purpose)), st.floats(1e9, 4e9))
@example([(111_111_111_111, 1)], Purpose.confirm, 1.8e9)  # the shortest JSON that compresses
def test_dated_tokens_are_what_itsdangerous_would_sign(
        subscriptions: list[tuple[int, int]], purpose: Purpose, now: float) -> None:
    # Confirmation links from a batch (signups, imports) are those of make_token.
    serializer = URLSafeTimedSerializer(["old-key", "key"], salt=f"newsletter-service.{purpose}")
    with mock.patch("time.time", return_value=now):
        expected = serializer.dumps([[sub_id, version] for sub_id, version in subscriptions])
        assert token_maker(["old-key", "key"], purpose)(subscriptions) == expected


def _zlib_would_shorten(pairs: list[tuple[int, int]]) -> bool:
    """Return whether itsdangerous would keep the compressed payload of these pairs."""
    json = ("[" + ",".join(f"[{sub_id},{version}]" for sub_id, version in pairs) + "]")
    compressed = zlib.compress(json.encode())
    assert len(json) <= tokens._NEVER_COMPRESSES, json  # only the lists the bound is about
    return len(compressed) < len(json) - 1


def test_no_json_list_of_pairs_within_the_bound_compresses() -> None:
    """The encoders skip zlib for JSON of up to 14 bytes: nothing that short compresses.

    The most repetitive lists are the ones that could: every id of one or two repeated
    digits up to eight digits long with every version digit, and every two-pair list of
    one-digit numbers (13 bytes), whatever zlib the machine has.
    """
    repetitive = {int(((a + b) * 4)[:length]) for a in "0123456789" for b in "0123456789"
                  for length in range(1, 9)} - {0}
    assert not [(sub_id, version) for sub_id in repetitive for version in range(10)
                if _zlib_would_shorten([(sub_id, version)])]
    assert not [pairs for pairs in itertools.product(range(10), repeat=4)
                if _zlib_would_shorten([pairs[:2], pairs[2:]])]


@given(st.integers(1, 99_999_999), st.integers(0, 9))
def test_no_single_pair_within_the_bound_compresses(sub_id: int, version: int) -> None:
    assert not _zlib_would_shorten([(sub_id, version)])


# Every address email-validator accepts is subscribed or refused with a 422: never a 5xx
# (issue 10: josé@example.com answered 500), on every signup endpoint and in the import.

def _accepted_by_email_validator(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


international_addresses = st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1,
                                  max_size=20).map(lambda local: f"{local}@example.com")
accepted_addresses = st.one_of(st.emails(), international_addresses).filter(
    _accepted_by_email_validator)
IMPORT_COUNTS = {name: re.compile(rf"{label} (\d+)") for name, label in
                 (("added", "Added"), ("existing", "already there"), ("bad", "bad rows"))}


@pytest.fixture
def daily(app: Flask) -> Flask:
    """The app with one newsletter, 'daily', that asks for the address alone."""
    make_newsletter(app, "daily", "The Daily")
    return app


def _signup_statuses(client: FlaskClient, address: str) -> dict[str, int]:
    one, many = "/newsletters/daily/subscribe", "/subscribe"
    answers = {
        "form": client.post(one, data={"email": address}),
        "JSON": client.post(one, json={"email": address}),
        "combined form": client.post(many, data={"email": address, "newsletters": "daily"}),
        "combined JSON": client.post(many, json={"email": address, "newsletters": ["daily"]}),
    }
    return {name: answer.status_code for name, answer in answers.items()}


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=accepted_addresses)
def test_an_address_email_validator_accepts_is_subscribed_or_refused_never_an_error(
        daily: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path,
        address: str) -> None:
    statuses = _signup_statuses(client, address)
    assert set(statuses.values()) <= {200, 422}, statuses
    assert len(set(statuses.values())) == 1, f"the endpoints disagree: {statuses}"

    readers = tmp_path / "readers.csv"
    with readers.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([["email"], [address]])
    result = runner.invoke(args=["subscribers", "import", "daily", str(readers)])
    assert result.exception is None and result.exit_code == 0, result.output
    counts = {name: pattern.search(result.output) for name, pattern in IMPORT_COUNTS.items()}
    assert all(counts.values()), result.output
    added, existing, bad = (int(found.group(1)) for found in counts.values() if found)
    good = added + existing
    assert (good, bad) in {(1, 0), (0, 1)}, result.output
    assert bool(good) == (statuses["form"] == 200), (
        f"the import calls it {'good' if good else 'bad'}, the signup answered {statuses}")


@given(st.lists(st.tuples(st.integers(1, 2**31), st.integers(0, 2**31)), min_size=1,
                max_size=4), st.sampled_from(list(Purpose)))
def test_a_token_maker_signs_what_read_token_reads(pairs: list[tuple[int, int]],
                                                   purpose: Purpose) -> None:
    claims = read_token("key", purpose, token_maker("key", purpose)(pairs))
    assert list(zip(claims.subscription_ids, claims.versions, strict=True)) == pairs
