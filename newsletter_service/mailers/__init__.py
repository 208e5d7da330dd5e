"""Hand EmailMessage objects to a mail transport chosen by a URL: SMTP, console, files, memory."""

from .base import ACCEPTED_FORMS, BaseMailer, Mailer, MailerError
from .local import ConsoleMailer, DevMail, DevMailbox, FailingMailer, FileMailer, MemoryMailer
from .registry import create_mailer
from .smtp import SMTPMailer

__all__ = [
    "ACCEPTED_FORMS", "BaseMailer", "ConsoleMailer", "DevMail", "DevMailbox", "FailingMailer",
    "FileMailer", "Mailer", "MailerError", "MemoryMailer", "SMTPMailer", "create_mailer",
]
