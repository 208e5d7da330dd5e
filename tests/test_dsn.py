"""Delivery status notifications (RFC 3464) as Postfix and Gmail send them."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter_service.dsn import RecipientStatus, parse_dsn

SAMPLES = Path(__file__).parent / "dsn"


@pytest.mark.parametrize(("sample", "expected"), [
    ("postfix_bounce.eml", ("gone.reader@example.org", "failed", "5.1.1", True)),
    ("gmail_bounce.eml", ("no.such.user.8812@gmail.com", "failed", "5.1.1", True)),
    ("transient_delay.eml", ("busy.reader@example.net", "delayed", "4.2.2", False)),
])
def test_samples_are_read_right(sample: str, expected: tuple[str, str, str, bool]) -> None:
    [status] = parse_dsn((SAMPLES / sample).read_bytes())
    assert (status.recipient, status.action, status.status,
            status.permanent_failure) == expected
    assert status.diagnostic and status.status in status.diagnostic


def test_gmail_folded_diagnostic_is_kept_whole() -> None:
    [status] = parse_dsn((SAMPLES / "gmail_bounce.eml").read_bytes())
    assert status.diagnostic is not None and "NoSuchUser" in status.diagnostic


@pytest.mark.parametrize("data", [
    b"",
    b"Subject: hello\r\n\r\nnot a report\r\n",
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x--\r\n",
])
def test_mail_without_a_delivery_status_reports_nothing(data: bytes) -> None:
    assert parse_dsn(data) == []


def test_a_relayed_or_delivered_status_is_not_a_failure() -> None:
    assert not RecipientStatus("a@example.com", "delivered", "2.0.0").permanent_failure
