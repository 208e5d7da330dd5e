"""Optional challenges a newsletter can switch on: a self-hosted proof of work, or a CAPTCHA.

- ``pow``: the browser finds a number whose SHA-256 with a salt we signed matches a
  hash we chose (the ALTCHA scheme: nothing leaves the publisher's and our servers).
  Stateless: the salt carries its expiry and the challenge carries our HMAC.
- ``turnstile`` / ``hcaptcha``: the provider's widget gives a token that we check
  with the provider's ``siteverify`` endpoint, server-side.
Off (``none``) by default; a newsletter switches one on in the console.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import logging
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

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


def new_pow_challenge(key: str, max_number: int, ttl_seconds: int) -> dict[str, Any]:
    """Return a fresh proof-of-work challenge, signed with ``key``."""
    salt = f"{secrets.token_hex(12)}?expires={int(time.time()) + ttl_seconds}"
    number = secrets.randbelow(max_number + 1)
    challenge = hashlib.sha256(f"{salt}{number}".encode()).hexdigest()
    return {"algorithm": "SHA-256", "challenge": challenge, "maxnumber": max_number,
            "salt": salt, "signature": _sign(key, challenge)}


def verify_pow(key: str, payload: str) -> bool:
    """Tell whether ``payload`` (base64 JSON, as ALTCHA posts it) solves a live challenge."""
    try:
        solution = json.loads(base64.b64decode(payload, validate=True))
        salt, number = str(solution["salt"]), int(solution["number"])
        challenge, signature = str(solution["challenge"]), str(solution["signature"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return False
    if solution.get("algorithm", "SHA-256") != "SHA-256" or _expired(salt):
        return False
    solved = hashlib.sha256(f"{salt}{number}".encode()).hexdigest()
    return hmac.compare_digest(solved, challenge) and \
        hmac.compare_digest(_sign(key, challenge), signature)


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


def _sign(key: str, challenge: str) -> str:
    return hmac.new(key.encode(), challenge.encode(), hashlib.sha256).hexdigest()


def _expired(salt: str) -> bool:
    params = urllib.parse.parse_qs(salt.partition("?")[2])
    try:
        return int(params["expires"][0]) < time.time()
    except (KeyError, ValueError, IndexError):
        return True  # we always set an expiry: a salt without one is not ours
