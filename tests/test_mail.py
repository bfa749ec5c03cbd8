"""E-mail over SMTP: delivered to the local server, refusals and an unreachable server reported."""
from __future__ import annotations

import socket

import pytest

from tests.smtp_server import smtp_overrides, smtp_sink  # noqa: F401
from webhooks.outbox.mail import MailError, mail_configured, send_mail
from webhooks.settings import Settings


def _settings(**overrides) -> Settings:
    return Settings.from_env({}, **overrides)


def test_a_message_reaches_the_server(smtp_sink):
    settings = _settings(**smtp_overrides(smtp_sink))
    assert send_mail(settings, ["a@xa.example", "b@xa.example"], "Tiêu đề có dấu", "Nội dung: “gặp cán bộ”") == []
    received = smtp_sink.received[0]
    assert received.recipients == ["a@xa.example", "b@xa.example"]
    assert received.message["Subject"] == "Tiêu đề có dấu" and "“gặp cán bộ”" in received.body
    assert "b@xa.example" not in received.message["To"]  # members do not see each other's addresses


def test_a_refusing_server_is_a_mail_error(smtp_sink):
    smtp_sink.refusing = True
    with pytest.raises(MailError, match="451"):
        send_mail(_settings(**smtp_overrides(smtp_sink)), ["a@xa.example"], "s", "b")


def test_an_unreachable_server_is_a_mail_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nobody listens there
    settings = _settings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="x@xa.example", smtp_security="none",
                         http_timeout=1.0)
    with pytest.raises(MailError):
        send_mail(settings, ["a@xa.example"], "s", "b")


@pytest.mark.parametrize("host, sender, configured", [("", "x@y.z", False), ("h", "", False), ("h", "x@y.z", True)])
def test_mail_configured(host, sender, configured):
    assert mail_configured(_settings(smtp_host=host, smtp_from=sender)) is configured
