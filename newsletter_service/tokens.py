"""Signed, purpose-bound tokens for the links in emails.

A token carries a subscription id and its ``token_version``, never the address. Each
purpose has its own salt, so a confirm token is no unsubscribe token. Bumping the
version on the subscription revokes every link issued before.
"""

from __future__ import annotations

import binascii
import enum
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    Signer,
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
    sign, separator = _signing(_serializer(secret_key, purpose).make_signer())

    def make(subscriptions: list[tuple[int, int]]) -> str:
        value = (_payload(subscriptions) + separator
                 + _base64(int_to_bytes(int(time.time()))))
        return (value + separator + _base64(sign(value))).decode()

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
    sign, separator = _signing(_lasting_serializer(secret_key, purpose).make_signer())

    def make(subscriptions: list[tuple[int, int]]) -> str:
        payload = _payload(subscriptions)
        return (payload + separator + _base64(sign(payload))).decode()

    return make


def _signing(signer: Signer) -> tuple[Callable[[bytes], bytes], bytes]:
    """Return the signer's HMAC as a function of the message, and its separator.

    The key is derived once, and so are HMAC's inner and outer hashes of the padded key
    (RFC 2104): each signature then costs two hash copies, half of what ``hmac.digest``
    takes. The bytes are those of the signer's own (tests/test_properties.py).
    """
    key, new_hash = signer.derive_key(), signer.digest_method
    block_size = new_hash().block_size
    if len(key) > block_size:
        key = new_hash(key).digest()
    key = key.ljust(block_size, b"\0")
    inner = new_hash(key.translate(_INNER_PAD))
    outer = new_hash(key.translate(_OUTER_PAD))

    def sign(message: bytes) -> bytes:
        inner_hash, outer_hash = inner.copy(), outer.copy()
        inner_hash.update(message)
        outer_hash.update(inner_hash.digest())
        signature: bytes = outer_hash.digest()
        return signature

    return sign, signer.sep


_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))

# A JSON list of pairs this short never compresses, so zlib is not tried (it costs 7 µs).
# itsdangerous keeps zlib's output only when it is 2 bytes shorter, and zlib adds 6 bytes
# of frame: deflate must then fit the N bytes of JSON in 8N - 64 bits. A byte's first
# occurrence can only be a literal, and the JSON has at least 4 different bytes ("[", "]",
# ",", a digit). With fixed Huffman codes (3 + 7 bits of block head and end, 8 bits a
# literal, 12 or more a back-reference) that takes N - 4 >= 11 repeated bytes; a dynamic
# block's code tables alone take over 50 bits. So N <= 14 cannot compress: ids of up to
# eight digits with a one-digit version (tests/test_properties.py checks it exhaustively
# for short lists and for repetitive ids).
_NEVER_COMPRESSES = 14


def _payload(subscriptions: list[tuple[int, int]]) -> bytes:
    """Return what ``URLSafeSerializer.dump_payload`` makes of the pairs as a JSON list."""
    if len(subscriptions) == 1:  # most links: a single newsletter
        ((sub_id, version),) = subscriptions
        return _url_safe_payload(b"[[%d,%d]]" % (int(sub_id), int(version)))
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
    """Return ``base64.urlsafe_b64encode(data)`` without its padding, in two C calls."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


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
