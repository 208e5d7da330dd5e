"""A real SMTP server on loopback for tests: records mail, fails on demand, goes down and up."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser, Parser
from functools import cache
from types import TracebackType
from typing import Any, Literal, Self, cast

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

TLSMode = Literal["starttls", "implicit"]
Command = Literal["RCPT", "DATA"]


@dataclass(frozen=True)
class ReceivedMail:
    """One message the sink accepted, with its SMTP envelope and session facts."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    login: str | None  # the user name that authenticated, if any
    tls: bool  # whether the session was encrypted when the message came in


@cache
def certificate_authority() -> trustme.CA:
    """Return the throwaway CA behind the sinks' certificates (one per test run)."""
    return trustme.CA()


@cache
def _server_certificate() -> trustme.LeafCert:
    return certificate_authority().issue_cert("localhost", "127.0.0.1")


def client_ssl_context() -> ssl.SSLContext:
    """Return a verifying client context that trusts the sinks' certificate."""
    context = ssl.create_default_context()
    certificate_authority().configure_trust(context)
    return context


def _server_ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _server_certificate().configure_cert(context)
    return context


class _WithoutLoginDataNotice(logging.Filter):
    """Drop aiosmtpd's notice about its own use of Session.login_data: noise in every AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_AIOSMTPD_LOG_FILTER = _WithoutLoginDataNotice()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return cast(int, probe.getsockname()[1])


class _Handler:
    """aiosmtpd hooks: enforce AUTH, inject failures, record accepted mail."""

    def __init__(self, sink: SMTPSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        # Checked here rather than with auth_required=True, which warns when TLS is optional.
        if self.sink.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        failure = self.sink._take_failure("RCPT")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.sink.delay)
        failure = self.sink._take_failure("DATA")
        if failure is not None:
            return failure
        raw = envelope.original_content or b""
        transport = server.transport
        self.sink._record(ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=parse_received(raw),
            raw=raw,
            login=cast("str | None", session.auth_data) if session.authenticated else None,
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
        ))
        return "250 2.0.0 OK: queued"


def parse_received(raw: bytes) -> EmailMessage:
    """Parse a received message as a mail client would: UTF-8 headers (RFC 6532) decoded,
    8bit bodies decoded by their charset."""
    message = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    if header_block.isascii():
        return message
    # BytesParser reads header bytes as ASCII; an SMTPUTF8 message's headers are UTF-8.
    headers = Parser(policy=policy.default).parsestr(header_block.decode("utf-8") + "\r\n\r\n",
                                                     headersonly=True)
    for name in set(headers.keys()):
        del message[name]
        for value in headers.get_all(name) or []:
            message[name] = value
    return message


class _Controller(Controller):
    """A Controller that tells the sink about every connection it accepts."""

    def __init__(self, sink: SMTPSink, **options: Any) -> None:
        super().__init__(_Handler(sink), **options)
        self.sink = sink

    def factory(self) -> SMTP:
        server = super().factory()
        self.sink._connected(server)
        return server


class SMTPSink:
    """A real SMTP server on 127.0.0.1 that records what it receives.

    ``auth=(user, password)`` requires AUTH LOGIN/PLAIN before MAIL FROM; ``tls="starttls"``
    requires STARTTLS, ``tls="implicit"`` speaks TLS from the first byte (SMTPS). The
    certificate is for ``localhost`` and ``127.0.0.1``, signed by ``certificate_authority()``.
    """

    host = "127.0.0.1"
    delay = 0.0  # seconds before answering each DATA, as a slow relay does

    def __init__(self, *, auth: tuple[str, str] | None = None, tls: TLSMode | None = None,
                 auth_mechanisms: tuple[str, ...] = ("LOGIN", "PLAIN"),
                 port: int | None = None, smtputf8: bool = True) -> None:
        self.auth = auth
        self.smtputf8 = smtputf8  # offer SMTPUTF8 (RFC 6531) in the EHLO answer
        self.tls = tls
        self.auth_mechanisms = auth_mechanisms
        self.port = port or _free_port()
        self.connections = 0  # client connections accepted, over every start()
        self._received: list[ReceivedMail] = []
        self._failures: dict[Command, deque[str]] = {"RCPT": deque(), "DATA": deque()}
        self._servers: list[SMTP] = []
        self._lock = threading.Lock()
        self._controller: _Controller | None = None

    @property
    def running(self) -> bool:
        """Return whether the sink is listening."""
        return self._controller is not None

    @property
    def received(self) -> list[ReceivedMail]:
        """Return every accepted message with its envelope, oldest first."""
        with self._lock:
            return list(self._received)

    @property
    def messages(self) -> list[EmailMessage]:
        """Return every accepted message, parsed with the default policy, oldest first."""
        return [mail.message for mail in self.received]

    def client_ssl_context(self) -> ssl.SSLContext:
        """Return a verifying client context that trusts this sink's certificate."""
        return client_ssl_context()

    def start(self) -> None:
        """Listen on ``port``; after a stop() this is the same port as before."""
        if self._controller is not None:
            return
        logging.getLogger("mail.log").addFilter(_AIOSMTPD_LOG_FILTER)  # a repeat is ignored
        controller = _Controller(self, hostname=self.host, port=self.port,
                                 server_hostname="localhost", **self._server_options())
        try:
            controller.start()
        except BaseException:
            if not controller.loop.is_running():
                controller.loop.close()
            raise
        with self._lock:
            self.connections -= 1  # Controller.start() connects once to see the server answer
        self._controller = controller

    def stop(self) -> None:
        """Hang up on every client and stop listening, as a crashed server would."""
        controller, self._controller = self._controller, None
        if controller is None:
            return
        self._in_loop(controller, self._hang_up_all())
        controller.stop()

    def drop_connections(self) -> None:
        """Hang up on every client but keep listening, as a server closing idle sessions."""
        if self._controller is not None:
            self._in_loop(self._controller, self._hang_up_all())

    def fail_next(self, n: int = 1, code: int = 451, text: str = "Try again later", *,
                  command: Command = "DATA") -> None:
        """Answer the next ``n`` DATA (or RCPT) commands with ``code text``."""
        with self._lock:
            self._failures[command].extend([f"{code} {text}"] * n)

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._lock:
            self._received.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _server_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"auth_require_tls": False,  # loopback: nothing to sniff
                                   "enable_SMTPUTF8": self.smtputf8}
        if self.tls == "implicit":
            options["ssl_context"] = _server_ssl_context()
        elif self.tls == "starttls":
            options.update(tls_context=_server_ssl_context(), require_starttls=True)
        if self.auth is not None:
            options["authenticator"] = self._authenticate
            options["auth_exclude_mechanism"] = sorted({"LOGIN", "PLAIN"}
                                                       - set(self.auth_mechanisms))
        return options

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: object) -> AuthResult:
        assert self.auth is not None
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if (login, password) != self.auth:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)

    def _connected(self, server: SMTP) -> None:
        with self._lock:
            self.connections += 1
            self._servers.append(server)

    def _take_failure(self, command: Command) -> str | None:
        with self._lock:
            queue = self._failures[command]
            return queue.popleft() if queue else None

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._received.append(mail)

    @staticmethod
    def _in_loop(controller: Controller, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, controller.loop).result(timeout=10)

    async def _hang_up_all(self) -> None:
        with self._lock:
            servers, self._servers = self._servers, []
        for server in servers:
            if isinstance(server.transport, asyncio.WriteTransport):
                server.transport.abort()  # no goodbye, no TLS close_notify: a crash
        # Let connection_lost run now, so that no transport outlives the loop (ResourceWarning).
        deadline = asyncio.get_running_loop().time() + 5
        while any(server.transport is not None for server in servers):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("SMTP sink clients did not disconnect")
            await asyncio.sleep(0.005)


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    """Yield a started plain SMTP sink; stop it afterwards."""
    with SMTPSink() as sink:
        yield sink


@pytest.fixture
def make_smtp_sink() -> Iterator[Callable[..., SMTPSink]]:
    """Yield a factory of started sinks (SMTPSink's options); stop them all afterwards."""
    sinks: list[SMTPSink] = []

    def make(**options: Any) -> SMTPSink:
        sink = SMTPSink(**options)
        sink.start()
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.stop()
