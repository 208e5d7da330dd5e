"""Real processes and sockets for tests: gunicorn, a TCP proxy to cut, loopback HTTP fakes."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing: a failing test shows its output, not each request."""

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class LoopbackFake:
    """A stand-in HTTP service on loopback: ``start`` serves ``handler()``, ``stop`` stops it.

    After a ``stop``, ``start`` listens on the same port again, as a service coming back would.
    """

    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """Return the request handler class, bound to this fake."""
        raise NotImplementedError

    def start(self) -> None:
        """Listen (port 0: a free one; after a ``stop``, the same port as before)."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.port = self._server.server_address[1]

    def stop(self) -> None:
        """Stop listening: connections are refused until ``start``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None


Fake = TypeVar("Fake", bound=LoopbackFake)


def running(fake: Fake) -> Iterator[Fake]:
    """Yield ``fake`` started (for a fixture); stop it after."""
    fake.start()
    yield fake
    fake.stop()


def stop_process(process: subprocess.Popen[str], timeout: float = 20) -> None:
    """SIGTERM ``process`` and wait for it; SIGKILL it if it is still there after ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Gunicorn:
    """``gunicorn wsgi:app`` with N workers, on a free port, with the given environment."""

    def __init__(self, env: dict[str, str], workers: int = 2, port: int | None = None) -> None:
        self.port = port or free_port()  # pass a port when the env must name it (BASE_URL)
        self.url = f"http://127.0.0.1:{self.port}"
        command = [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers),
                   "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning", "wsgi:app"]
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        # Read the output as it comes: a pipe nobody reads fills up (64 KiB of request log
        # lines) and the workers block on their next log line.
        self._output: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self._wait_until_up()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout as output:  # closed at the end of the output
            for line in output:
                self._output.append(line)

    def _collected(self) -> str:
        self._reader.join(timeout=10)
        return "".join(self._output)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self._collected()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not answer within 30 s")

    def stop(self) -> str:
        """Stop the server and return what it logged."""
        stop_process(self.process)
        return self._collected()


class Worker:
    """``newsletter-service worker`` with the given environment, as production runs beside
    gunicorn: it carries out the signups a busy server leaves to it, and sends mail."""

    def __init__(self, env: dict[str, str]) -> None:
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "newsletter-service"), "worker"], cwd=ROOT,
            env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT, text=True)

    def stop(self) -> str:
        """Stop the worker (SIGTERM: it finishes what it holds) and return what it logged."""
        stop_process(self.process)
        self._log.seek(0)
        output = self._log.read()
        self._log.close()
        return output


class TCPProxy:
    """Forward a local port to ``target``; ``cut()`` drops every connection.

    ``restore()`` listens again on the same port, as a database coming back would.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.settimeout(0.2)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
