"""The service's settings, built from environment variables in one place (the engine's are bot.settings)."""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field, replace
from typing import Mapping

from bot.settings import ROOT
from bot.settings import Settings as EngineSettings

# Secrets the Zalo channel cannot run without (outside demo mode).
REQUIRED_SECRETS = ("ZALO_APP_ID", "ZALO_APP_SECRET", "ZALO_OA_SECRET_KEY", "ZALO_ACCESS_TOKEN", "ZALO_REFRESH_TOKEN")
DEMO_ACCESS_TOKEN = "demo-access-token"


class ConfigError(RuntimeError):
    """Raised when the environment cannot start the service."""


def _smtp_security(value: str) -> str:
    if value not in ("starttls", "ssl", "none"):
        raise ConfigError(f"SMTP_SECURITY must be starttls, ssl or none, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the web service; `engine` is what the engine reads."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    database_url: str = f"sqlite:///{ROOT / 'instance' / 'bot.db'}"
    redis_url: str | None = None  # the dashboard's login rate limits across processes (memory when unset)
    zalo_app_id: str = ""
    zalo_app_secret: str = ""
    zalo_oa_secret_key: str = ""
    zalo_access_token: str = ""
    zalo_refresh_token: str = ""
    zalo_api_base: str = "https://openapi.zalo.me"
    zalo_oauth_base: str = "https://oauth.zaloapp.com"
    port: int = 8000
    demo: bool = False
    secret_key: str = ""
    max_body_bytes: int = 64 * 1024
    behind_proxy: bool = False  # nginx in front (deploy/nginx.conf): trust its X-Forwarded-For / -Proto
    http_timeout: float = 5.0
    answer_threads: int = 4  # per web process; 0 leaves answering and sending to `python -m bot worker`
    poll_seconds: float = 0.1  # how often an idle process looks for work nobody woke it for
    lease_seconds: float = 60.0  # a claim older than this belongs to a dead process (longer than one send)
    retry_base: float = 1.0  # seconds before the first retry of a send; doubles each attempt
    retry_cap: float = 300.0  # the longest wait between two attempts
    reply_horizon_hours: float = 24.0  # a reply not delivered by then is failed (and never past Zalo's 7 days)
    handoff_idle_hours: float = 24.0  # a hand-over with no staff activity this long closes itself
    public_url: str = ""  # the dashboard's address as members open it (links in alerts)
    smtp_host: str = ""  # staff alerts by e-mail (none when unset)
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_security: str = "starttls"  # starttls | ssl | none
    profile_refresh_hours: float = 24.0  # a citizen's Zalo name and avatar are looked up again after this
    communes_only: bool = False  # every OA is a commune record (webhooks.communes): no ZALO_* secrets needed

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """Build settings from the environment (os.environ by default); `overrides` win."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = dict(
            engine=EngineSettings.from_env(env),
            database_url=env.get("DATABASE_URL") or cls.database_url,
            redis_url=env.get("REDIS_URL") or None,
            zalo_app_id=env.get("ZALO_APP_ID", ""),
            zalo_app_secret=env.get("ZALO_APP_SECRET", ""),
            zalo_oa_secret_key=env.get("ZALO_OA_SECRET_KEY", ""),
            zalo_access_token=env.get("ZALO_ACCESS_TOKEN", ""),
            zalo_refresh_token=env.get("ZALO_REFRESH_TOKEN", ""),
            zalo_api_base=env.get("ZALO_API_BASE", cls.zalo_api_base).rstrip("/"),
            zalo_oauth_base=env.get("ZALO_OAUTH_BASE", cls.zalo_oauth_base).rstrip("/"),
            port=int(env.get("PORT", "8000")),
            demo=env.get("BOT_DEMO", "") in ("1", "true", "yes"),
            secret_key=env.get("SECRET_KEY", ""),
            behind_proxy=env.get("BOT_BEHIND_PROXY", "") in ("1", "true", "yes"),
            answer_threads=int(env.get("BOT_ANSWER_THREADS", cls.answer_threads)),
            poll_seconds=float(env.get("BOT_POLL_SECONDS", cls.poll_seconds)),
            lease_seconds=float(env.get("BOT_LEASE_SECONDS", cls.lease_seconds)),
            retry_cap=float(env.get("BOT_RETRY_CAP", cls.retry_cap)),
            reply_horizon_hours=float(env.get("BOT_REPLY_HORIZON_HOURS", cls.reply_horizon_hours)),
            handoff_idle_hours=float(env.get("BOT_HANDOFF_IDLE_HOURS", cls.handoff_idle_hours)),
            public_url=env.get("BOT_PUBLIC_URL", "").rstrip("/"),
            smtp_host=env.get("SMTP_HOST", ""),
            smtp_port=int(env.get("SMTP_PORT", cls.smtp_port)),
            smtp_user=env.get("SMTP_USER", ""),
            smtp_password=env.get("SMTP_PASSWORD", ""),
            smtp_from=env.get("SMTP_FROM", ""),
            smtp_security=_smtp_security(env.get("SMTP_SECURITY", cls.smtp_security)),
            profile_refresh_hours=float(env.get("BOT_PROFILE_REFRESH_HOURS", cls.profile_refresh_hours)),
            communes_only=env.get("BOT_COMMUNES_ONLY", "") in ("1", "true", "yes"),
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def missing_secrets(self) -> list[str]:
        """Names of the required Zalo secrets that are empty."""
        have = {"ZALO_APP_ID": self.zalo_app_id, "ZALO_APP_SECRET": self.zalo_app_secret,
                "ZALO_OA_SECRET_KEY": self.zalo_oa_secret_key, "ZALO_ACCESS_TOKEN": self.zalo_access_token,
                "ZALO_REFRESH_TOKEN": self.zalo_refresh_token}
        return [name for name in REQUIRED_SECRETS if not have[name]]

    def checked(self) -> "Settings":
        """Settings ready to serve: demo secrets filled in, or a ConfigError naming what is missing."""
        if self.demo:
            return replace(
                self, zalo_app_id=self.zalo_app_id or "demo-app",
                zalo_app_secret=self.zalo_app_secret or "demo-app-secret",
                zalo_oa_secret_key=self.zalo_oa_secret_key or "demo-oa-secret-key",
                zalo_access_token=self.zalo_access_token or DEMO_ACCESS_TOKEN,
                zalo_refresh_token=self.zalo_refresh_token or "demo-refresh-token",
            ).with_session_key()
        if self.communes_only:  # each commune's OA is in its record; the session key cannot come from an app secret
            if not self.secret_key:
                raise ConfigError("Thiếu biến môi trường / missing environment variable: SECRET_KEY "
                                  "(required with BOT_COMMUNES_ONLY=1).")
            return self
        missing = self.missing_secrets()
        if missing:
            raise ConfigError("Thiếu biến môi trường / missing environment variable(s): " + ", ".join(missing)
                              + ". Set them, or run the local demo with BOT_DEMO=1 (make run).")
        return self.with_session_key()

    def with_session_key(self) -> "Settings":
        """Settings with a session-signing key: SECRET_KEY, else one derived from the app secret.

        Derived rather than random so every process and every instance behind a load balancer agrees.
        """
        if self.secret_key:
            return self
        key = hmac.new(self.zalo_app_secret.encode(), b"bot-dashboard-session", hashlib.sha256).hexdigest()
        return replace(self, secret_key=key)
