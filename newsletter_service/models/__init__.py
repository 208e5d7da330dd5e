"""The data model, one module per area; every table and type is importable from here."""

from .confirmation import (
    ConfirmationCode,
    NotMeBlock,
    UsedChallenge,
)
from .console import (
    Admin,
    ApiToken,
    ExportLog,
    LoginFailure,
)
from .newsletters import (
    Newsletter,
)
from .outbox import (
    OutboxMessage,
    Suppression,
    WebhookEndpoint,
)
from .privacy import (
    ErasedSubscription,
    SuppressedAddress,
)
from .readers import (
    ConsentEvent,
    SignupRequest,
    Subscriber,
    Subscription,
)
from .types import (
    ConfirmMethod,
    ConsentEventKind,
    FieldMode,
    OutboxStatus,
    SubscriptionStatus,
    SuppressionReason,
    UTCDateTime,
    enum_column,
    new_manage_token,
    utcnow,
)

__all__ = [
    "Admin",
    "ApiToken",
    "ConfirmMethod",
    "ConfirmationCode",
    "ConsentEvent",
    "ConsentEventKind",
    "ErasedSubscription",
    "ExportLog",
    "FieldMode",
    "LoginFailure",
    "Newsletter",
    "NotMeBlock",
    "OutboxMessage",
    "OutboxStatus",
    "SignupRequest",
    "Subscriber",
    "Subscription",
    "SubscriptionStatus",
    "SuppressedAddress",
    "Suppression",
    "SuppressionReason",
    "UTCDateTime",
    "UsedChallenge",
    "WebhookEndpoint",
    "enum_column",
    "new_manage_token",
    "utcnow",
]
