"""Signed, purpose-bound tokens for the links in emails.

A token carries a subscription id and its ``token_version``, never the address. Each
purpose has its own salt, so a confirm token is no unsubscribe token. Bumping the
version on the subscription revokes every link issued before.
"""

from __future__ import annotations

import enum
import hmac
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes


class Purpose(enum.StrEnum):
    """What a link may do."""

    confirm = "confirm"
    unsubscribe = "unsubscribe"


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
    issued_at: datetime


def _serializer(secret_key: str | list[str], purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=f"newsletter-service.{purpose}")


def make_token(secret_key: str | list[str], purpose: Purpose,
               subscriptions: list[tuple[int, int]]) -> str:
    """Sign ``[(subscription_id, token_version), ...]`` for ``purpose``."""
    payload = [[sub_id, version] for sub_id, version in subscriptions]
    return str(_serializer(secret_key, purpose).dumps(payload))


def token_maker(secret_key: str | list[str],
                purpose: Purpose) -> Callable[[list[tuple[int, int]]], str]:
    """Return a ``make_token`` for many tokens at once, such as an export's rows.

    It writes what itsdangerous writes (uncompressed payload, timestamp, HMAC), so
    ``read_token`` reads it, but derives the key and the timestamp once instead of per
    token: signing stops being most of an export's time.
    """
    signer = _serializer(secret_key, purpose).make_signer()
    mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)
    stamp = b"." + base64_encode(int_to_bytes(int(time.time())))

    def make(subscriptions: list[tuple[int, int]]) -> str:
        # Compact JSON of integer pairs, as itsdangerous's serializer writes it.
        pairs = ",".join(f"[{int(sub_id)},{int(version)}]" for sub_id, version in subscriptions)
        value = _b64(f"[{pairs}]".encode()) + stamp
        signature = mac.copy()
        signature.update(value)
        return (value + b"." + _b64(signature.digest())).decode()

    return make


def _b64(data: bytes) -> bytes:
    return urlsafe_b64encode(data).rstrip(b"=")


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


def _claims(payload: object, issued: datetime) -> TokenClaims:
    try:
        pairs = [(int(sub_id), int(version)) for sub_id, version in payload]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InvalidToken("malformed payload") from None
    if not pairs:
        raise InvalidToken("empty payload")
    return TokenClaims(
        subscription_ids=tuple(p[0] for p in pairs),
        versions=tuple(p[1] for p in pairs),
        issued_at=issued.astimezone(UTC),
    )
