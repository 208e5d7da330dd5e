"""Optional challenges a newsletter can switch on: a self-hosted proof of work, or a CAPTCHA.

- ``pow``: the browser finds a number whose SHA-256 with a salt we signed matches a
  hash we chose (the ALTCHA scheme, v1, with the ``altcha`` package: nothing leaves the
  publisher's and our servers). The salt carries its expiry and the challenge our HMAC;
  a solution is accepted once: spent ones are kept in ``used_challenges`` until they expire.
- ``turnstile`` / ``hcaptcha``: the provider's widget gives a token that we check
  with the provider's ``siteverify`` endpoint, server-side.
Off (``none``) by default; a newsletter switches one on in the console.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from altcha.v1 import ChallengeOptions, Payload, create_challenge, verify_solution
from sqlalchemy import delete
from sqlalchemy.orm import Session

from .db import insert_for
from .models import UsedChallenge, utcnow

log = logging.getLogger(__name__)

VERIFY_TIMEOUT_SECONDS = 5


class ChallengeKind(enum.StrEnum):
    """Which challenge a newsletter's form asks readers to pass."""

    none = "none"
    pow = "pow"
    turnstile = "turnstile"
    hcaptcha = "hcaptcha"


@dataclass(frozen=True)
class Provider:
    """A CAPTCHA provider: its widget, the field its widget posts, where to verify."""

    script: str
    widget_class: str
    response_field: str
    origins: tuple[str, ...]


PROVIDERS = {
    ChallengeKind.turnstile: Provider(
        script="https://challenges.cloudflare.com/turnstile/v0/api.js",
        widget_class="cf-turnstile", response_field="cf-turnstile-response",
        origins=("https://challenges.cloudflare.com",)),
    ChallengeKind.hcaptcha: Provider(
        script="https://js.hcaptcha.com/1/api.js", widget_class="h-captcha",
        response_field="h-captcha-response",
        origins=("https://hcaptcha.com", "https://*.hcaptcha.com")),
}
POW_FIELD = "altcha"
RESPONSE_FIELDS = (POW_FIELD, *(p.response_field for p in PROVIDERS.values()))


@dataclass(frozen=True)
class PowSolution:
    """A valid solution: the signature that names its challenge, and when that expires."""

    signature: str
    expires_at: datetime


def new_pow_challenge(key: str, max_number: int, ttl_seconds: int) -> dict[str, Any]:
    """Return a fresh proof-of-work challenge, signed with ``key``."""
    expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    made = create_challenge(ChallengeOptions(
        algorithm="SHA-256", max_number=max_number, hmac_key=key, expires=expires))
    # Our wire format (challenge.js, embed.js): ALTCHA's, with ``maxnumber`` in lower case.
    return {"algorithm": made.algorithm, "challenge": made.challenge,
            "maxnumber": made.max_number, "salt": made.salt, "signature": made.signature}


def check_pow(key: str, payload: str) -> PowSolution | None:
    """Return the solution ``payload`` (base64 JSON, as ALTCHA posts it) is, if it is valid."""
    try:
        solution = json.loads(base64.b64decode(payload, validate=True))
        algorithm = str(solution.get("algorithm", "SHA-256"))
        checked = Payload(algorithm="SHA-256", challenge=str(solution["challenge"]),
                          number=int(solution["number"]), salt=str(solution["salt"]),
                          signature=str(solution["signature"]))
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, OverflowError,
            RecursionError):
        return None  # altcha would raise on some of these (a JSON number, a list): not ours
    expires_at = _expiry(checked.salt)
    if algorithm != "SHA-256" or expires_at is None:
        return None
    valid, _error = verify_solution(checked, key, check_expires=True)
    return PowSolution(checked.signature, expires_at) if valid else None


def spend_pow(session: Session, key: str, payload: str) -> bool:
    """Tell whether ``payload`` solves a live challenge not used before; mark it used."""
    solution = check_pow(key, payload)
    if solution is None:
        return False
    session.execute(delete(UsedChallenge).where(UsedChallenge.expires_at < utcnow()))
    spent = session.scalar(
        insert_for(session)(UsedChallenge)
        .values(signature=solution.signature, expires_at=solution.expires_at)
        .on_conflict_do_nothing(index_elements=["signature"])
        .returning(UsedChallenge.signature)
    )
    session.commit()
    return spent is not None  # None: the row was there already, a replay


def verify_with_provider(verify_url: str, secret: str, token: str,
                         remote_ip: str | None) -> bool:
    """Ask the provider whether ``token`` is a passed challenge; False when it cannot say."""
    if not token or not secret:
        return False
    fields = {"secret": secret, "response": token}
    if remote_ip:
        fields["remoteip"] = remote_ip
    body = urllib.parse.urlencode(fields).encode()
    try:
        with urllib.request.urlopen(verify_url, data=body,
                                    timeout=VERIFY_TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, TimeoutError, ValueError) as error:
        # Fail closed: a form behind a CAPTCHA stays closed while the provider is away.
        log.warning("challenge verification at %s failed: %s", verify_url, error)
        return False
    return bool(isinstance(answer, dict) and answer.get("success") is True)


def _expiry(salt: str) -> datetime | None:
    params = urllib.parse.parse_qs(salt.partition("?")[2])
    try:
        return datetime.fromtimestamp(int(params["expires"][0]), UTC)
    except (KeyError, ValueError, IndexError, OverflowError, OSError):
        return None  # we always set an expiry: a salt without one is not ours
