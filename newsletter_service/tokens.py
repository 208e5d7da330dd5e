"""Signed, purpose-bound tokens for the links in emails.

A token carries a subscription id and its ``token_version``, never the address. Each
purpose has its own salt, so a confirm token is no unsubscribe token. Bumping the
version on the subscription revokes every link issued before.
"""

from __future__ import annotations

import base64
import enum
import hmac
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import int_to_bytes


class Purpose(enum.StrEnum):
    """What a link may do."""

    confirm = "confirm"
    unsubscribe = "unsubscribe"
    not_me = "not-me"


class InvalidToken(Exception):
    """The token was tampered with, is foreign or is not for this purpose."""


class ExpiredToken(InvalidToken):
    """The token is genuine but too old; ``claims`` says whose it was."""

    def __init__(self, claims: TokenClaims) -> None:
        super().__init__("expired")
        self.claims = claims


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says."""

    subscription_ids: tuple[int, ...]
    versions: tuple[int, ...]
    issued_at: datetime | None  # None: a lasting token, signed without a date


def _serializer(secret_key: str | list[str], purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=f"newsletter-service.{purpose}")


def make_token(secret_key: str | list[str], purpose: Purpose,
               subscriptions: list[tuple[int, int]]) -> str:
    """Sign ``[(subscription_id, token_version), ...]`` for ``purpose``."""
    return token_maker(secret_key, purpose)(subscriptions)


def token_maker(secret_key: str | list[str],
                purpose: Purpose) -> Callable[[list[tuple[int, int]]], str]:
    """Return a ``make_token`` for many tokens at once, such as an import's confirmations.

    As ``lasting_token_maker``: the key is derived once, and each token is encoded as the
    timed serializer's ``dumps`` encodes it, byte for byte (tests/test_properties.py): the
    payload, the time in seconds, and the HMAC over both.
    """
    own = _serializer(secret_key, purpose).make_signer()
    key, digest, separator = own.derive_key(), own.digest_method, own.sep

    def make(subscriptions: list[tuple[int, int]]) -> str:
        value = (_payload(subscriptions) + separator
                 + _base64(int_to_bytes(int(time.time()))))
        return (value + separator + _base64(hmac.digest(key, value, digest))).decode()

    return make


def make_lasting_token(secret_key: str | list[str], purpose: Purpose,
                       subscriptions: list[tuple[int, int]]) -> str:
    """Sign ``[(subscription_id, token_version), ...]`` without a date: the same token each time.

    It never expires; bumping ``token_version`` (or deleting the subscription) revokes it.
    """
    return lasting_token_maker(secret_key, purpose)(subscriptions)


def lasting_token_maker(secret_key: str | list[str],
                        purpose: Purpose) -> Callable[[list[tuple[int, int]]], str]:
    """Return a ``make_lasting_token`` for many tokens at once, such as an export's rows.

    The key is derived once (itsdangerous derives it per signature), and a token is encoded
    as ``URLSafeSerializer.dumps`` encodes it, byte for byte (tests/test_properties.py), in a few
    microseconds rather than fifteen: compact JSON, zlib only where it could make the
    payload shorter, URL-safe base64 without padding, and the HMAC in one call.
    """
    own = _lasting_serializer(secret_key, purpose).make_signer()
    key, digest, separator = own.derive_key(), own.digest_method, own.sep

    def make(subscriptions: list[tuple[int, int]]) -> str:
        payload = _payload(subscriptions)
        return (payload + separator + _base64(hmac.digest(key, payload, digest))).decode()

    return make


# Shorter JSON never compresses (zlib adds 6 bytes of frame and 5 literals take 5 more);
# itsdangerous keeps a compressed payload only when it saves two bytes.
_NEVER_COMPRESSES = 12


def _payload(subscriptions: list[tuple[int, int]]) -> bytes:
    """Return what ``URLSafeSerializer.dump_payload`` makes of the pairs as a JSON list."""
    text = ",".join(f"[{int(sub_id)},{int(version)}]" for sub_id, version in subscriptions)
    return _url_safe_payload(f"[{text}]".encode())


def _url_safe_payload(json: bytes) -> bytes:
    """Return what ``URLSafeSerializer.dump_payload`` makes of already dumped JSON."""
    if len(json) > _NEVER_COMPRESSES:
        compressed = zlib.compress(json)
        if len(compressed) < len(json) - 1:
            return b"." + _base64(compressed)
    return _base64(json)


def _base64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def read_lasting_token(secret_key: str | list[str], purpose: Purpose, token: str) -> TokenClaims:
    """Verify a lasting token and return its claims; raise InvalidToken.

    Links mailed before tokens were lasting carry a date and the version 0: they keep
    working (they never expired), and 0 tells the caller not to compare versions.
    """
    try:
        payload = _lasting_serializer(secret_key, purpose).loads(token)
    except (BadSignature, UnicodeError, ValueError):
        return read_token(secret_key, purpose, token)
    return _claims(payload, None)


def _lasting_serializer(secret_key: str | list[str], purpose: Purpose) -> URLSafeSerializer:
    # Its own salt: a dated token never verifies as a lasting one, nor the other way round.
    return URLSafeSerializer(secret_key, salt=f"newsletter-service.{purpose}.lasting")


def read_token(secret_key: str | list[str], purpose: Purpose, token: str,
               max_age: int | None = None) -> TokenClaims:
    """Verify ``token`` and return its claims; raise InvalidToken or ExpiredToken."""
    serializer = _serializer(secret_key, purpose)
    try:
        payload, issued = serializer.loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired as error:
        if error.payload is None or error.date_signed is None:
            raise InvalidToken("malformed") from None
        claims = _claims(serializer.load_payload(error.payload), error.date_signed)
        raise ExpiredToken(claims) from None
    except (BadSignature, UnicodeError, ValueError):
        raise InvalidToken("bad signature") from None
    return _claims(payload, issued)


def _claims(payload: object, issued: datetime | None) -> TokenClaims:
    try:
        pairs = [(int(sub_id), int(version)) for sub_id, version in payload]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InvalidToken("malformed payload") from None
    if not pairs:
        raise InvalidToken("empty payload")
    return TokenClaims(
        subscription_ids=tuple(p[0] for p in pairs),
        versions=tuple(p[1] for p in pairs),
        issued_at=issued.astimezone(UTC) if issued is not None else None,
    )
