"""Choose a backend by URL (``NEWSLETTER_MAILER``): a registry keyed by scheme."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import cast
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from .base import ACCEPTED_FORMS, BaseMailer, Mailer
from .local import ConsoleMailer, DevMailbox, FileMailer, MemoryMailer
from .smtp import SMTPMailer


class _SendOnlyMailer(BaseMailer):
    """Give a third-party object that only has send() the rest of a Mailer."""

    def __init__(self, wrapped: object) -> None:
        self.wrapped = wrapped

    def send(self, message: EmailMessage) -> None:
        """Delegate to the wrapped object."""
        self.wrapped.send(message)  # type: ignore[attr-defined]

    def send_raw(self, data: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Delegate to the wrapped object's send_raw(), or parse and send()."""
        send_raw = getattr(self.wrapped, "send_raw", None)
        if callable(send_raw):
            send_raw(data, sender, recipients)
        else:
            super().send_raw(data, sender, recipients)

    def open(self) -> None:
        """Call the wrapped object's open() if it has one."""
        _call_if_present(self.wrapped, "open")

    def close(self) -> None:
        """Call the wrapped object's close() if it has one."""
        _call_if_present(self.wrapped, "close")


def _call_if_present(target: object, name: str) -> None:
    method = getattr(target, name, None)
    if callable(method):
        method()


# ---- the registry: URL scheme -> factory(parsed URL, instance_path) ------------------------

MailerFactory = Callable[[SplitResult, str | None], Mailer]


def _smtp_from_url(url: SplitResult, instance_path: str | None) -> Mailer:
    query = _query(url, {"starttls", "timeout", "verify"})
    username, password = _credentials(url)
    return SMTPMailer(*_host_port(url, default_port=25), username=username, password=password,
                      starttls=_flag(query, "starttls", False), timeout=_timeout(query),
                      verify=_flag(query, "verify", True))


def _smtps_from_url(url: SplitResult, instance_path: str | None) -> Mailer:
    query = _query(url, {"timeout", "verify"})
    username, password = _credentials(url)
    return SMTPMailer(*_host_port(url, default_port=465), username=username, password=password,
                      ssl=True, timeout=_timeout(query), verify=_flag(query, "verify", True))


def _console_from_url(url: SplitResult, instance_path: str | None) -> Mailer:
    _require_bare(url)
    return ConsoleMailer()


def _memory_from_url(url: SplitResult, instance_path: str | None) -> Mailer:
    _require_bare(url)
    return MemoryMailer()


def _file_from_url(url: SplitResult, instance_path: str | None) -> Mailer:
    directory = _absolute_directory(url)
    if directory is None:
        raise ValueError("file mailer needs an absolute directory: file:///absolute/dir")
    return FileMailer(directory)


def _devmail_from_url(url: SplitResult, instance_path: str | None) -> Mailer:
    directory = _absolute_directory(url)
    if directory is not None:
        return DevMailbox(directory)
    if instance_path is None:
        raise ValueError("devmail:// keeps mail in <instance_path>/devmail: pass instance_path")
    return DevMailbox(Path(instance_path) / "devmail")


_BACKENDS: dict[str, MailerFactory] = {
    "smtp": _smtp_from_url,
    "smtps": _smtps_from_url,
    "console": _console_from_url,
    "file": _file_from_url,
    "memory": _memory_from_url,
    "devmail": _devmail_from_url,
}

_IMPORT_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*")


def create_mailer(url: str, *, instance_path: str | None = None) -> Mailer:
    """Build the mailer that ``url`` names (see ACCEPTED_FORMS)."""
    scheme, colon, _ = url.partition(":")
    factory = _BACKENDS.get(scheme.lower()) if colon else None
    try:
        if factory is not None:
            return factory(urlsplit(url), instance_path)
        if _IMPORT_PATH.fullmatch(url):
            return _import_mailer(url)
    except ValueError as error:
        raise ValueError(f"bad mailer URL {_redact(url)!r}: {error}. "
                         f"Accepted forms: {ACCEPTED_FORMS}") from error
    raise ValueError(f"unknown mailer URL {_redact(url)!r}. Accepted forms: {ACCEPTED_FORMS}")


def _import_mailer(spec: str) -> Mailer:
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r}: {error}") from error
    cls = getattr(module, name, None)
    if not callable(cls):
        raise ValueError(f"{module_name!r} has no class {name!r}")
    try:
        mailer = cls()
    except TypeError as error:
        raise ValueError(f"{spec} must be creatable with no arguments: {error}") from error
    if not callable(getattr(mailer, "send", None)):
        raise ValueError(f"{spec} is not a mailer: it has no send(message) method")
    needed = ("send_raw", "close")
    if all(callable(getattr(mailer, attr, None)) for attr in needed):
        return cast(Mailer, mailer)
    return _SendOnlyMailer(mailer)


def _host_port(url: SplitResult, *, default_port: int) -> tuple[str, int]:
    if not url.hostname:
        raise ValueError("no host")
    if url.path not in ("", "/") or url.fragment:
        raise ValueError("unexpected path or fragment after the host")
    port = url.port  # raises ValueError for a port that is not a number in range
    return url.hostname, default_port if port is None else port


def _credentials(url: SplitResult) -> tuple[str | None, str | None]:
    username = unquote(url.username) if url.username else None
    password = unquote(url.password) if url.password is not None else None
    if password is not None and username is None:
        raise ValueError("a password without a user name")
    return username, password


def _query(url: SplitResult, allowed: set[str]) -> dict[str, str]:
    pairs = parse_qsl(url.query, keep_blank_values=True)
    query = dict(pairs)
    unknown = sorted(set(query) - allowed)
    if unknown:  # a typo such as ?tls=true must not silently send in plain text
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; allowed: {sorted(allowed)}")
    if len(query) != len(pairs):
        raise ValueError("an option is given twice")
    return query


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(query: dict[str, str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None:
        return default
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueError(f"{name} must be true or false, not {value!r}")


def _timeout(query: dict[str, str]) -> float:
    value = query.get("timeout", "10")
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, not {value!r}")
    return seconds


def _require_bare(url: SplitResult) -> None:
    if url.netloc or url.path or url.query or url.fragment:
        raise ValueError(f"{url.scheme}:// takes no host, path or options")


def _absolute_directory(url: SplitResult) -> Path | None:
    """Return the directory of ``scheme:///abs/dir``, None for ``scheme://``."""
    if url.netloc not in ("", "localhost") or url.query or url.fragment:
        raise ValueError(f"write {url.scheme}:///absolute/dir (three slashes), no options")
    if not url.path:
        return None
    path = unquote(url.path)
    if not path.startswith("/"):
        raise ValueError("the directory must be an absolute path")
    return Path(path)


def _redact(url: str) -> str:
    """Return ``url`` with any password masked, for error messages."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return url.partition(":")[0] + ":..."
    if not has_password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{hostport}").geturl()
