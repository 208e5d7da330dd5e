"""Hand EmailMessage objects to a mail transport chosen by a URL: SMTP, console, files, memory."""

from __future__ import annotations

import email.errors
import importlib
import logging
import re
import smtplib
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from ssl import CERT_NONE, SSLContext, create_default_context
from types import TracebackType
from typing import IO, Any, Protocol, Self, cast
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

log = logging.getLogger(__name__)

ACCEPTED_FORMS = (
    "smtp://[user:pass@]host[:port][?starttls=true&timeout=10&verify=false], "
    "smtps://[user:pass@]host[:port][?timeout=10&verify=false], "
    "console://, file:///absolute/dir, memory://, devmail:// or devmail:///absolute/dir, "
    "package.module:Class"
)


class MailerError(Exception):
    """A message could not be handed over; ``permanent`` says whether retrying is pointless."""

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class Mailer(Protocol):
    """What the outbox worker needs from a mail transport."""

    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise MailerError."""

    def open(self) -> None:
        """Acquire what a batch of sends shares, such as an SMTP connection."""

    def close(self) -> None:
        """Release what open() acquired; safe to call twice."""

    def __enter__(self) -> Mailer:
        """Open for a batch."""

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close after a batch."""


class BaseMailer:
    """Give a backend no-op open/close and ``with mailer:`` batching."""

    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise MailerError."""
        raise NotImplementedError

    def open(self) -> None:
        """Do nothing: this backend holds no connection."""

    def close(self) -> None:
        """Do nothing: this backend holds no connection."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _require_envelope(message: EmailMessage) -> None:
    """Refuse, for good, a message that names no sender or no recipient."""
    if not (message["From"] or message["Sender"]):
        raise MailerError("malformed message: no From header", permanent=True)
    if not any(message[name] for name in ("To", "Cc", "Bcc")):
        raise MailerError("malformed message: no To, Cc or Bcc header", permanent=True)


def _flatten(message: EmailMessage) -> bytes:
    """Return the message's bytes, refusing for good one that cannot be written out."""
    # Every backend checks this, so a test on MemoryMailer catches what SMTP would refuse.
    _require_envelope(message)
    try:
        return message.as_bytes()
    except (ValueError, LookupError, email.errors.MessageError) as error:
        raise MailerError(f"malformed message: {error}", permanent=True) from error


class SMTPMailer(BaseMailer):
    """Deliver through an SMTP relay, one connection per ``with`` block; not thread-safe."""

    def __init__(self, host: str, port: int, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False, ssl: bool = False,
                 timeout: float = 10.0, verify: bool = True, local_hostname: str | None = None,
                 ssl_context: SSLContext | None = None) -> None:
        if starttls and ssl:
            raise ValueError("choose starttls or ssl (implicit TLS), not both")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout
        self.verify = verify
        self.local_hostname = local_hostname
        self.ssl_context = ssl_context  # overrides verify, e.g. to trust a private CA
        self._smtp: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        # Never the password: reprs end up in logs and tracebacks.
        user = f"{self.username}@" if self.username else ""
        mode = "ssl" if self.ssl else "starttls" if self.starttls else "plain"
        return f"<SMTPMailer {user}{self.host}:{self.port} {mode}>"

    def open(self) -> None:
        """Connect, secure and log in, unless a session is already open."""
        if self._smtp is not None:
            return
        try:
            self._smtp = self._connect()
        except (smtplib.SMTPException, OSError, ValueError) as error:
            # Connection, TLS and login trouble is the relay's, not the message's: retry later.
            raise self._error("connect", error, permanent=False) from error

    def close(self) -> None:
        """Say QUIT and hang up, ignoring a server that is already gone."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the session is over either way
        finally:
            smtp.close()

    def send(self, message: EmailMessage) -> None:
        """Send one message, reconnecting once if the server had dropped the session."""
        _require_envelope(message)
        self._transmit(lambda smtp: smtp.send_message(message))

    def send_raw(self, data: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Send an already rendered message as it is: the outbox's bytes, not parsed again."""
        if not sender or not recipients:
            raise MailerError("message has no sender or no recipient", permanent=True)
        utf8 = not all(address.isascii() for address in (sender, *recipients))
        options = ["SMTPUTF8"] if utf8 else []
        self._transmit(lambda smtp: smtp.sendmail(sender, list(recipients), data,
                                                  mail_options=options))

    def _transmit(self, transaction: Callable[[smtplib.SMTP], dict[str, Any]]) -> None:
        try:
            self._send_in_session(transaction)
        except smtplib.SMTPServerDisconnected:
            # Relays hang up on idle sessions. If the drop came after the final dot the
            # message may arrive twice: delivery is at-least-once by design.
            log.info("%r: server closed the connection, reconnecting once", self)
            self._hang_up()
            try:
                self._send_in_session(transaction)
            except smtplib.SMTPServerDisconnected as error:
                self._hang_up()
                raise self._error("send", error, permanent=False) from error

    def _connect(self) -> smtplib.SMTP:
        # Host and port go to the constructor: only then does smtplib know the name to verify
        # the certificate against. It closes its socket itself if the greeting fails.
        smtp: smtplib.SMTP
        if self.ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                    timeout=self.timeout, context=self._tls_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname,
                                timeout=self.timeout)
        try:
            if self.starttls:
                # Raises if the server does not offer STARTTLS: never fall back to plain text.
                smtp.starttls(context=self._tls_context())
            if self.username is not None:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _tls_context(self) -> SSLContext:
        if self.ssl_context is not None:
            return self.ssl_context
        context = create_default_context()
        if not self.verify:
            # For relays with self-signed certificates, on the operator's explicit word.
            context.check_hostname = False
            context.verify_mode = CERT_NONE
        return context

    def _send_in_session(self, transaction: Callable[[smtplib.SMTP], dict[str, Any]]) -> None:
        """Send on the open session; a dropped session comes out as SMTPServerDisconnected."""
        self.open()
        assert self._smtp is not None
        try:
            refused = transaction(self._smtp)
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPRecipientsRefused as error:
            # All recipients refused: permanent only if none was a "try again later".
            codes = [code for code, _ in error.recipients.values()]
            raise self._error("send", error, permanent=all(c >= 500 for c in codes)) from error
        except smtplib.SMTPResponseException as error:
            # After a 421 smtplib has closed the socket: the next send reconnects.
            raise self._error("send", error, permanent=_is_permanent(error.smtp_code)) from error
        except smtplib.SMTPNotSupportedError as error:
            # Raised before MAIL FROM when the message needs SMTPUTF8 and the relay lacks it.
            raise self._error("send", error, permanent=True) from error
        except (ValueError, LookupError, email.errors.MessageError) as error:
            raise MailerError(f"malformed message: {error}", permanent=True) from error
        except (smtplib.SMTPException, OSError) as error:
            self._hang_up()  # the session is in an unknown state
            raise self._error("send", error, permanent=False) from error
        if refused:
            # Others got it; failing now would make a retry deliver to them twice.
            log.warning("%r: some recipients refused: %s", self, _refusals(refused))

    def _hang_up(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _error(self, action: str, error: BaseException, *, permanent: bool) -> MailerError:
        code, text = _describe(error)
        detail = f"{code} {text}" if code is not None else text
        message = f"SMTP {action} via {self.host}:{self.port} failed: {detail}"
        if self.password:
            # Belt and braces: a server that echoes credentials must not put them in our logs.
            message = message.replace(self.password, "***")
        return MailerError(message, permanent=permanent, code=code)


def _is_permanent(code: int) -> bool:
    """Tell whether an SMTP reply code means "do not repeat" for this message."""
    # 530 is the relay asking us to log in: fix the settings and the same message will go.
    return 500 <= code < 600 and code != 530


def _describe(error: BaseException) -> tuple[int | None, str]:
    """Return the SMTP reply code (if any) and a readable text for an smtplib/socket error."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return (codes[0] if codes else None), f"recipients refused: {_refusals(error.recipients)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code, _text(error.smtp_error)
    return None, f"{type(error).__name__}: {error}"


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in refused.items())


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class ConsoleMailer(BaseMailer):
    """Print each message, for development without a mail server."""

    SEPARATOR = "-" * 79

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        """Write the message and a separator line to the stream (stdout by default)."""
        _flatten(message)
        # Look stdout up late so that pytest's capture and redirects see the output.
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(f"{message.as_string()}\n{self.SEPARATOR}\n")
            stream.flush()


class FileMailer(BaseMailer):
    """Write each message to ``<directory>/<timestamp>-<uuid>.eml``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._last_stamp = datetime.min.replace(tzinfo=UTC)

    def send(self, message: EmailMessage) -> None:
        """Write the message as an .eml file, creating the directory if need be."""
        data = _flatten(message)
        name = f"{self._next_stamp():%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}"
        temporary = self.directory / f".{name}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            # Rename into place so that a reader never sees half a message.
            temporary.replace(self.directory / f"{name}.eml")
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise MailerError(f"cannot write {name}.eml in {self.directory}: {error}",
                              permanent=False) from error

    def _next_stamp(self) -> datetime:
        # Strictly increasing, so that names sort in sending order even within a microsecond.
        with self._lock:
            now = datetime.now(UTC)
            self._last_stamp = max(now, self._last_stamp + timedelta(microseconds=1))
            return self._last_stamp


@dataclass(frozen=True)
class DevMail:
    """One message in the dev mailbox, ready for a template."""

    id: str
    subject: str
    to: str
    from_: str
    date: datetime
    text: str
    html: str | None


_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


class DevMailbox(FileMailer):
    """A FileMailer that can list and show what it wrote, for ``make run``."""

    def list_messages(self) -> list[DevMail]:
        """Return the stored messages, newest first."""
        if not self.directory.is_dir():
            return []
        paths = sorted(self.directory.glob("*.eml"), key=lambda path: path.stem, reverse=True)
        mails = (self._read(path) for path in paths if _SAFE_ID.fullmatch(path.stem))
        return [mail for mail in mails if mail is not None]

    def get_message(self, id: str) -> DevMail | None:
        """Return the message with this id, or None (also for anything but a plain file stem)."""
        if not _SAFE_ID.fullmatch(id):  # no separators, no dots: no way out of the directory
            return None
        return self._read(self.directory / f"{id}.eml")

    def clear(self) -> None:
        """Delete every stored message."""
        for path in self.directory.glob("*.eml"):
            path.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> DevMail | None:
        try:
            with path.open("rb") as file:
                message = cast(EmailMessage, BytesParser(policy=policy.default).parse(file))
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except (FileNotFoundError, IsADirectoryError):  # cleared meanwhile, or not ours
            return None
        date_header = message["Date"]
        html = message.get_body(preferencelist=("html",))
        return DevMail(
            id=path.stem,
            subject=str(message["Subject"] or ""),
            to=str(message["To"] or ""),
            from_=str(message["From"] or ""),
            date=getattr(date_header, "datetime", None) or modified,
            text=_body_text(message.get_body(preferencelist=("plain",))),
            html=_body_text(html) if html is not None else None,
        )


def _body_text(part: object) -> str:
    if not isinstance(part, EmailMessage):
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # unknown charset or broken encoding: show what we can
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


class MemoryMailer(BaseMailer):
    """Keep sent messages in ``outbox``, for tests."""

    def __init__(self) -> None:
        self.outbox: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        """Append the message to the outbox."""
        _flatten(message)
        with self._lock:
            self.outbox.append(message)


class FailingMailer(BaseMailer):
    """Fail the first ``fail_times`` sends (every send if None), then deliver to ``outbox``."""

    def __init__(self, error: MailerError | None = None, fail_times: int | None = None) -> None:
        self.error = error or MailerError("simulated delivery failure", permanent=False)
        self.fail_times = fail_times
        self.attempts = 0
        self.outbox: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        """Raise the configured error, or deliver once the failures are used up."""
        with self._lock:
            self.attempts += 1
            if self.fail_times is not None and self.attempts > self.fail_times:
                _flatten(message)
                self.outbox.append(message)
                return
        raise self.error.with_traceback(None)  # a fresh traceback per failure, not a growing one


class _SendOnlyMailer(BaseMailer):
    """Give a third-party object that only has send() the open/close/with of a Mailer."""

    def __init__(self, wrapped: object) -> None:
        self.wrapped = wrapped

    def send(self, message: EmailMessage) -> None:
        """Delegate to the wrapped object."""
        self.wrapped.send(message)  # type: ignore[attr-defined]

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
    needed = ("open", "close", "__enter__", "__exit__")
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
