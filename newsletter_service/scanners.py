"""Mail scanners: tell a link opened by a security scanner from one a reader opened.

Defender Safe Links, Mimecast and their kind open every link of a message within
seconds of delivery, run its scripts and press buttons. A page that may be one of them
offers no button that changes anything: the confirm page asks for the emailed code
instead, and the not-me page asks to come back in a minute. Readers who open the link
later, as people do, see the buttons.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from .models import utcnow

# User agents that announce automation; scanners that hide it are caught by the clock.
AUTOMATED_AGENTS = ("headless", "bot", "crawler", "spider", "scanner", "preview", "python",
                    "curl", "wget")


def may_be_scanner(issued_at: datetime | None, user_agent: str | None) -> bool:
    """Tell whether a link page is being opened as a scanner would: too soon, or by a robot."""
    agent = (user_agent or "").lower()
    if not agent or any(marker in agent for marker in AUTOMATED_AGENTS):
        return True
    window = timedelta(seconds=current_app.config["CONFIRM_SCANNER_SECONDS"])
    return issued_at is not None and utcnow() - issued_at < window
