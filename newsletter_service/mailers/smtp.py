"""The SMTP backend: STARTTLS or implicit TLS, login, timeouts, one connection a batch."""

from __future__ import annotations

import email.errors
import logging
import smtplib
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from ssl import CERT_NONE, SSLContext, create_default_context
from typing import Any

from .base import BaseMailer, MailerError, _require_envelope

log = logging.getLogger(__name__)


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

    def ping(self) -> None:
        """Connect, EHLO, STARTTLS and log in as configured, then QUIT: no mail is sent."""
        self.close()
        self.open()  # raises MailerError if connecting, securing or logging in fails
        assert self._smtp is not None
        try:
            self._smtp.ehlo_or_helo_if_needed()
            code, reply = self._smtp.noop()
            if code != 250:
                raise smtplib.SMTPResponseException(code, reply)
        except (smtplib.SMTPException, OSError) as error:
            raise self._error("check", error, permanent=False) from error
        finally:
            self.close()

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
            failure = self._error("send", error, permanent=all(c >= 500 for c in codes))
            failure.recipient_refused = True
            raise failure from error
        except smtplib.SMTPResponseException as error:
            # After a 421 smtplib has closed the socket: the next send reconnects.
            raise self._error("send", error, permanent=_is_permanent(error.smtp_code)) from error
        except smtplib.SMTPNotSupportedError as error:
            # Raised before MAIL FROM when the message needs SMTPUTF8 and the relay lacks it:
            # the same relay will refuse it tomorrow too.
            raise MailerError(f"SMTP relay {self.host}:{self.port} does not offer SMTPUTF8, "
                              "which an internationalized address (a non-ASCII local part) "
                              "needs: not sent", permanent=True) from error
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
