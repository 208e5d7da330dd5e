"""Where a signup came from: the page and the IP address, cleaned before they are stored.

Both come from the request (a form field, the Referer, a forwarded header), so both are
whatever a client chose to send. They end up in the console and in exports, where a
``javascript:`` URL, a reader's token in a query string or a formula posing as an IP
address would do harm.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_SOURCE_LENGTH = 2048
# A value that starts like a URL (``scheme:``) rather than a label such as "paper form".
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def clean_source(value: object) -> str | None:
    """Return ``value`` as ``scheme://host[:port]/path`` when it is an http(s) URL, else None.

    The query string and fragment (which can carry other sites' tokens) and any user
    name or password are dropped.
    """
    if not isinstance(value, str) or not value.isprintable():
        return None
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    cleaned = f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}"
    return cleaned if len(cleaned) <= MAX_SOURCE_LENGTH else None


def clean_label(value: str | None) -> str | None:
    """Return an imported source: a plain label as it is, a URL as ``clean_source`` keeps it."""
    if value and _SCHEME.match(value):
        return clean_source(value)
    return value


def clean_ip(value: str | None) -> str | None:
    """Return ``value`` when it is an IPv4 or IPv6 address (normalized), else None."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
