"""The wheel, installed into a fresh virtualenv and run from an empty directory, is the service.

Builds ``pip wheel .`` from a copy of the sources, installs it (pulling its dependencies,
from pip's cache where it can) into a new virtualenv, and runs it far from the checkout as
an operator would: ``db upgrade``, ``newsletters add``, ``check``, gunicorn with two workers,
``worker --once``. Where the wheel cannot be built or installed (no package index) the tests
skip on a laptop; wherever ``NEWSLETTER_TEST_REQUIRE`` is set (CI) they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "newsletter_service",
           "templates", "migrations")
METRICS_TOKEN = "wheel-test-metrics-token"
PIP_TIMEOUT = 300


def _unavailable(reason: str) -> None:
    if os.environ.get("NEWSLETTER_TEST_REQUIRE"):
        pytest.fail(f"{reason} (CI: NEWSLETTER_TEST_REQUIRE is set, the wheel must be tested)")
    pytest.skip(reason)


def _run(command: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class Installed:
    """A virtualenv with the wheel installed, an empty directory and the service's environment."""

    venv: Path
    workdir: Path
    env: dict[str, str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``newsletter-service ARGS`` from the empty directory."""
        return _run([self.venv / "bin" / "newsletter-service", *args], cwd=self.workdir,
                    env=self.env)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the sources (no stale build/ of the checkout)."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "_templates",
                                    "_migrations")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=ignore)
        else:
            shutil.copy2(path, source / name)
    dist = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source],
                 cwd=source, timeout=PIP_TIMEOUT)
    wheels = list(dist.glob("newsletter_service-*.whl"))
    if built.returncode != 0 or not wheels:
        _unavailable(f"pip wheel failed: {built.stderr[-2000:]}")
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Install the wheel with its dependencies into a new virtualenv; prepare an empty dir."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--clear", venv], cwd=venv, timeout=120).check_returncode()
    pip = _run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=venv,
               timeout=PIP_TIMEOUT)
    if pip.returncode != 0:
        _unavailable(f"pip install of the wheel failed: {pip.stderr[-2000:]}")
    workdir = tmp_path_factory.mktemp("empty")
    port = free_port()
    multiproc = tmp_path_factory.mktemp("prometheus")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("NEWSLETTER_", "FLASK_", "PROMETHEUS_", "PYTHON"))}
    env.update({
        "NEWSLETTER_SECRET_KEY": "wheel-test-secret-key-0123456789",
        "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{port}",
        "NEWSLETTER_MAILER": "console://",
        "NEWSLETTER_MAIL_FROM": "news@example.com",
        "NEWSLETTER_DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "NEWSLETTER_METRICS_TOKEN": METRICS_TOKEN,
        "NEWSLETTER_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "PORT": str(port),
    })
    return Installed(venv, workdir, env)


@pytest.fixture(scope="module")
def server(installed: Installed) -> Iterator[str]:
    """Serve the installed package with gunicorn (two workers) from the empty directory."""
    assert installed.cli("db", "upgrade").returncode == 0
    added = installed.cli("newsletters", "add", "daily", "--name", "The Daily")
    assert added.returncode == 0, added.stderr
    url = f"http://127.0.0.1:{installed.env['PORT']}"
    process = subprocess.Popen(
        [str(installed.venv / "bin" / "gunicorn"), "--workers", "2", "--bind", url[7:],
         "newsletter_service:create_app()"],
        cwd=installed.workdir, env=installed.env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        _wait_until_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _wait_until_ready(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited: {process.communicate()[0]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail("gunicorn did not get ready within 30 s")


def request(url: str, data: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Return the status and body of a GET, or a JSON POST when ``data`` is given."""
    body = json.dumps(data).encode() if data is not None else None
    call = urllib.request.Request(url, data=body, headers={
        **({"Content-Type": "application/json"} if body else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(call, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_wheel_carries_templates_static_files_and_migrations(wheel: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"newsletter_service/_templates/base.html",
                "newsletter_service/_templates/email/confirm.txt",
                "newsletter_service/_migrations/env.py",
                "newsletter_service/_migrations/versions/0001_initial_schema.py",
                "newsletter_service/static/embed.js"}
    assert expected <= names
    assert not any("__pycache__" in name or name.startswith("tests/") for name in names)


def test_installing_pulls_what_production_needs_and_no_test_tools(installed: Installed) -> None:
    listed = _run([installed.venv / "bin" / "python", "-m", "pip", "list", "--format=json"],
                  cwd=installed.workdir, env=installed.env)
    packages = {item["name"].lower().replace("_", "-") for item in json.loads(listed.stdout)}
    assert {"flask", "gunicorn", "prometheus-client", "psycopg", "alembic"} <= packages
    assert not packages & {"pytest", "aiosmtpd", "hypothesis", "playwright", "ruff"}


def test_the_installed_cli_migrates_and_checks_from_an_empty_directory(
        installed: Installed) -> None:
    upgrade = installed.cli("db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    check = installed.cli("check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "✓ database" in check.stdout and check.stdout.rstrip().endswith("Ready.")
    where = _run([installed.venv / "bin" / "python", "-c",
                  "import newsletter_service.resources as r; print(r.templates_dir())"],
                 cwd=installed.workdir, env=installed.env)
    assert where.stdout.startswith(str(installed.venv)), where.stdout + where.stderr


def test_gunicorn_serves_every_page_of_the_installed_package(server: str) -> None:
    status, body = request(f"{server}/newsletters/daily/subscribe",
                           {"email": "reader@example.com"})
    assert status == 200 and json.loads(body)["ok"] is True
    for path in ("/", "/newsletters/daily", "/embed.js", "/admin/login", "/healthz", "/readyz"):
        status, body = request(f"{server}{path}")
        assert status == 200, (path, body[:500])


def test_the_worker_sends_from_the_installed_templates(installed: Installed,
                                                       server: str) -> None:
    request(f"{server}/newsletters/daily/subscribe", {"email": "worker.reader@example.com"})
    sent = installed.cli("worker", "--once")
    assert sent.returncode == 0, sent.stderr
    assert "Sent " in sent.stdout and "Confirm your subscription" in sent.stdout


def test_metrics_add_up_across_gunicorn_workers(server: str) -> None:
    # Each worker keeps its own histogram; in PROMETHEUS_MULTIPROC_DIR mode a scrape sums them.
    for _ in range(12):
        assert request(f"{server}/embed/daily")[0] == 200
    assert request(f"{server}/metrics")[0] == 401
    status, body = request(f"{server}/metrics",
                           headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body) for s in family.samples}
    frame = (("method", "GET"), ("route", "/embed/<slug>"), ("status", "200"))
    assert samples[("newsletter_http_request_duration_seconds_count", frame)] == 12
    assert samples[("newsletter_signups_total", (("newsletter", "daily"), ("via", "form")))] >= 1
