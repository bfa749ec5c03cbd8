"""A local SMTP server (aiosmtpd) that keeps what it receives, for the alert tests."""
from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Received:
    """One message as the server accepted it."""

    recipients: list[str]
    message: Any  # email.message.EmailMessage

    @property
    def body(self) -> str:
        """The plain-text body."""
        return self.message.get_body(("plain",)).get_content()


@dataclass
class SmtpSink:
    """aiosmtpd handler: accepts (or, while `refusing`, refuses with 451) and keeps every message."""

    received: list[Received] = field(default_factory=list)
    refusing: bool = False
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        """Keep the message, or refuse it for now."""
        if self.refusing:
            return "451 4.3.0 Thử lại sau"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running local SMTP server; `smtp_sink.port` to point SMTP_PORT at."""
    sink = SmtpSink(port=_free_port())
    # server_hostname: without it aiosmtpd looks up the machine's FQDN, which can take seconds.
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, server_hostname="localhost")
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def smtp_overrides(sink: SmtpSink) -> dict[str, Any]:
    """Settings fields sending alerts to `sink`."""
    return {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_from": "tro-ly@xa.example",
            "smtp_security": "none", "public_url": "https://xa.example"}
