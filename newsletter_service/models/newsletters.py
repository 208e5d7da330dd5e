"""A publisher's newsletters and their forms' settings."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .types import (
    FieldMode,
    UTCDateTime,
    enum_column,
    utcnow,
)

if TYPE_CHECKING:
    from .readers import Subscription


class Newsletter(Base):
    """A newsletter readers can sign up for, with its form's settings."""

    __tablename__ = "newsletters"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    name_field: Mapped[FieldMode] = mapped_column(enum_column(FieldMode, "field_mode"),
                                                  default=FieldMode.hidden)
    consent_text: Mapped[str | None] = mapped_column(Text)  # set: a required consent checkbox
    consent_version: Mapped[int] = mapped_column(default=1)
    success_title: Mapped[str] = mapped_column(String(200), default="Successfully subscribed")
    success_message: Mapped[str] = mapped_column(
        Text,
        default="Thank you for signing up for this newsletter. "
        "We've sent you a confirmation email.",
    )
    confirmation_subject: Mapped[str | None] = mapped_column(String(200))
    confirmation_text: Mapped[str | None] = mapped_column(Text)
    send_welcome: Mapped[bool] = mapped_column(default=True)
    one_click_confirm: Mapped[bool] = mapped_column(default=False)
    challenge: Mapped[str] = mapped_column(String(20), default="none")  # challenges.ChallengeKind
    allowed_origins: Mapped[str] = mapped_column(Text, default="")  # one origin a line
    return_url: Mapped[str | None] = mapped_column(String(2048))
    reply_to: Mapped[str | None] = mapped_column(String(254))
    # Its form, pages and emails speak this language (i18n.LANGUAGES).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    is_active: Mapped[bool] = mapped_column(default=True)
    is_public: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="newsletter")

    @property
    def asks_name(self) -> bool:
        return self.name_field is not FieldMode.hidden

    @property
    def origins(self) -> list[str]:
        return [line.strip() for line in self.allowed_origins.splitlines() if line.strip()]
