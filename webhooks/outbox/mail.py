"""E-mail to staff through the configured SMTP server (stdlib smtplib and email)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from webhooks.settings import Settings


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the message (worth a retry)."""


def mail_configured(settings: Settings) -> bool:
    """True when alerts can go by e-mail."""
    return bool(settings.smtp_host and settings.smtp_from)


def send_mail(settings: Settings, recipients: list[str], subject: str, body: str) -> list[str]:
    """Send one plain-text message to `recipients` (the envelope carries the list); the addresses refused."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = settings.smtp_from  # recipients go in the envelope only: members do not see each other
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    message.set_content(body)
    try:
        if settings.smtp_security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port,
                                                    timeout=settings.http_timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.http_timeout)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password)
            refused = client.send_message(message, to_addrs=recipients)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{type(exc).__name__}: {exc}") from exc
    return sorted(refused)  # some addresses refused, the others accepted: not sent again to anyone
