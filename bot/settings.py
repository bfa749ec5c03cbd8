"""One settings object, built from environment variables in one place."""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent

# Secrets the Zalo channel cannot run without (outside demo mode).
REQUIRED_SECRETS = ("ZALO_APP_ID", "ZALO_APP_SECRET", "ZALO_OA_SECRET_KEY", "ZALO_ACCESS_TOKEN", "ZALO_REFRESH_TOKEN")


class ConfigError(RuntimeError):
    """Raised when the environment cannot start the service."""


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of the matcher, tuned on the evaluation set."""

    answer: float = 0.32  # top score at or above: answer directly
    clarify: float = 0.27  # top score at or above (but below answer): ask back
    margin: float = 0.02  # top minus second below this: ask back even above `answer`


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the bot and the service."""

    catalog_path: Path = ROOT / "procedures.yaml"
    intents_dir: Path = ROOT / "intents"
    # The national tier: the imported portal records and the aliases admins add (national/, in the repository).
    national_index: Path = ROOT / "national" / "index.jsonl"
    national_aliases: Path = ROOT / "national" / "aliases.yaml"
    thresholds: Thresholds = field(default_factory=Thresholds)
    database_url: str = f"sqlite:///{ROOT / 'instance' / 'bot.db'}"
    redis_url: str | None = None
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
    delivery_workers: int = 2
    delivery_max_attempts: int = 6
    delivery_base_delay: float = 1.0  # seconds; doubles each attempt
    http_timeout: float = 5.0
    # In-process mode: while this many requests are in progress (a burst), jobs wait, at most
    # answer_defer_max seconds each (0: never wait).
    answer_defer_busy: int = 4
    answer_defer_max: float = 1.0
    # `python -m bot worker` lowers its own CPU priority by this much (0: the default priority). Not by
    # default: on a busy 2-core host a niced worker waited behind every other process at each of its
    # database and HTTP round trips (measured at 100 msg/s: end-to-end p95 538 ms at 10, 105 ms at 0);
    # during a burst workers pause for the web tier anyway (priority.BusyBeacon).
    worker_nice: int = 0
    # Redis mode: a web process enqueues answering jobs at most once per this many seconds.
    enqueue_window: float = 0.05
    # While webhook requests overlap, the write waits this long for more to join its batch (0: never).
    # Both databases gain under a burst (measured, docs/ARCHITECTURE.md): fewer, bigger transactions,
    # one server round trip each on PostgreSQL, one pass through the write turn each on SQLite. 1 ms
    # since the writer got lighter (thirteenth session): against 2 ms, medians of 0.609 / 0.515 (PostgreSQL)
    # and 0.549 / 0.517 (SQLite) in six interleaved rounds each.
    intake_gather: float = 0.001
    # The webhook answers 200 once the event is in its process's spool file here (webhooks/spool.py), and
    # a drainer thread stores it a moment later, waiting `spool_gather` seconds for more to join its
    # batch. None (BOT_SPOOL_DIR=off): 200 only after the database commit, for hosts whose local disk
    # does not outlive the process (then nothing could replay a spool).
    spool_dir: Path | None = ROOT / "instance" / "spool"
    spool_gather: float = 0.02
    # While a burst fills the request threads the drainer yields to them, storing one batch per
    # answer_defer_max seconds, until the oldest queued event waited this many seconds (0: never yields;
    # webhooks/spooled_intake.py).
    spool_hold: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """Build settings from the environment (os.environ by default)."""
        env = os.environ if environ is None else environ
        t = Thresholds()
        values: dict[str, object] = dict(
            catalog_path=Path(env.get("BOT_CATALOG", str(ROOT / "procedures.yaml"))),
            intents_dir=Path(env.get("BOT_INTENTS", str(ROOT / "intents"))),
            national_index=Path(env.get("BOT_NATIONAL_INDEX", str(cls.national_index))),
            national_aliases=Path(env.get("BOT_NATIONAL_ALIASES", str(cls.national_aliases))),
            thresholds=Thresholds(
                answer=float(env.get("BOT_ANSWER_THRESHOLD", t.answer)),
                clarify=float(env.get("BOT_CLARIFY_THRESHOLD", t.clarify)),
                margin=float(env.get("BOT_MARGIN", t.margin)),
            ),
            database_url=env.get("DATABASE_URL") or cls.database_url,
            redis_url=env.get("REDIS_URL") or None,
            zalo_app_id=env.get("ZALO_APP_ID", ""),
            zalo_app_secret=env.get("ZALO_APP_SECRET", ""),
            zalo_oa_secret_key=env.get("ZALO_OA_SECRET_KEY", ""),
            zalo_access_token=env.get("ZALO_ACCESS_TOKEN", ""),
            zalo_refresh_token=env.get("ZALO_REFRESH_TOKEN", ""),
            zalo_api_base=env.get("ZALO_API_BASE", "https://openapi.zalo.me").rstrip("/"),
            zalo_oauth_base=env.get("ZALO_OAUTH_BASE", "https://oauth.zaloapp.com").rstrip("/"),
            port=int(env.get("PORT", "8000")),
            demo=env.get("BOT_DEMO", "") in ("1", "true", "yes"),
            secret_key=env.get("SECRET_KEY", ""),
            delivery_workers=int(env.get("BOT_DELIVERY_WORKERS", "2")),
            answer_defer_busy=int(env.get("BOT_ANSWER_DEFER_BUSY", "4")),
            answer_defer_max=float(env.get("BOT_ANSWER_DEFER_MAX", "1.0")),
            worker_nice=int(env.get("BOT_WORKER_NICE", "0")),
            enqueue_window=float(env.get("BOT_ENQUEUE_WINDOW", "0.05")),
            intake_gather=float(env.get("BOT_INTAKE_GATHER", "0.001")),
            spool_dir=_spool_dir(env.get("BOT_SPOOL_DIR")),
            spool_gather=float(env.get("BOT_SPOOL_GATHER", "0.02")),
            spool_hold=float(env.get("BOT_SPOOL_HOLD", "10")),
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def missing_secrets(self) -> list[str]:
        """Names of the required Zalo secrets that are empty."""
        have = {
            "ZALO_APP_ID": self.zalo_app_id,
            "ZALO_APP_SECRET": self.zalo_app_secret,
            "ZALO_OA_SECRET_KEY": self.zalo_oa_secret_key,
            "ZALO_ACCESS_TOKEN": self.zalo_access_token,
            "ZALO_REFRESH_TOKEN": self.zalo_refresh_token,
        }
        return [name for name in REQUIRED_SECRETS if not have[name]]

    def checked(self) -> "Settings":
        """Return settings ready to serve: demo secrets filled in, or an error naming what is missing."""
        if self.demo:
            return replace(
                self,
                zalo_app_id=self.zalo_app_id or "demo-app",
                zalo_app_secret=self.zalo_app_secret or "demo-app-secret",
                zalo_oa_secret_key=self.zalo_oa_secret_key or "demo-oa-secret-key",
                zalo_access_token=self.zalo_access_token or "demo-access-token",
                zalo_refresh_token=self.zalo_refresh_token or "demo-refresh-token",
            ).with_session_key()
        missing = self.missing_secrets()
        if missing:
            raise ConfigError(
                "Thiếu biến môi trường / missing environment variable(s): " + ", ".join(missing)
                + ". Set them, or run the local demo with BOT_DEMO=1 (make run)."
            )
        return self.with_session_key()

    def with_session_key(self) -> "Settings":
        """Settings with a session-signing key: SECRET_KEY, else one derived from the app secret.

        Derived rather than random so every process and every instance behind a load balancer agrees.
        """
        if self.secret_key:
            return self
        key = hmac.new(self.zalo_app_secret.encode(), b"bot-dashboard-session", hashlib.sha256).hexdigest()
        return replace(self, secret_key=key)


def _spool_dir(value: str | None) -> Path | None:
    if value is None:
        return Settings.spool_dir
    return None if value.strip().lower() in ("", "off", "0", "none", "false") else Path(value)
