"""Settings come from the environment in one place per layer; missing secrets are named."""
from __future__ import annotations

import pytest

from bot.settings import Settings as EngineSettings
from webhooks.settings import ConfigError, Settings

FULL = {"ZALO_APP_ID": "1", "ZALO_APP_SECRET": "s", "ZALO_OA_SECRET_KEY": "k", "ZALO_ACCESS_TOKEN": "a",
        "ZALO_REFRESH_TOKEN": "r"}


def test_defaults_without_environment():
    s = Settings.from_env({})
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("instance/bot.db")
    assert s.zalo_api_base == "https://openapi.zalo.me" and s.zalo_oauth_base == "https://oauth.zaloapp.com"
    assert (s.redis_url, s.port, s.answer_threads) == (None, 8000, 4)
    assert s.engine == EngineSettings.from_env({})


@pytest.mark.parametrize("variable, value, field, expected", [
    ("DATABASE_URL", "postgresql://x/y", "database_url", "postgresql://x/y"),
    ("REDIS_URL", "redis://r", "redis_url", "redis://r"),
    ("PORT", "9000", "port", 9000),
    ("ZALO_API_BASE", "http://127.0.0.1:1/", "zalo_api_base", "http://127.0.0.1:1"),
    ("BOT_ANSWER_THREADS", "0", "answer_threads", 0),
    ("BOT_POLL_SECONDS", "0.5", "poll_seconds", 0.5),
    ("BOT_RETRY_CAP", "60", "retry_cap", 60.0),
    ("BOT_REPLY_HORIZON_HOURS", "6", "reply_horizon_hours", 6.0),
])
def test_values_from_environment(variable, value, field, expected):
    assert getattr(Settings.from_env({**FULL, variable: value}), field) == expected


def test_the_engine_reads_only_its_own_settings():
    engine = Settings.from_env({"BOT_ANSWER_THRESHOLD": "0.5", "BOT_CATALOG": "/x/p.yaml"}).engine
    assert (engine.thresholds.answer, str(engine.catalog_path)) == (0.5, "/x/p.yaml")
    assert not hasattr(engine, "database_url")


@pytest.mark.parametrize("missing", sorted(FULL))
def test_missing_secret_is_named(missing):
    env = {k: v for k, v in FULL.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Settings.from_env(env).checked()


def test_demo_mode_fills_secrets_and_a_stable_session_key():
    a, b = Settings.from_env({"BOT_DEMO": "1"}).checked(), Settings.from_env({"BOT_DEMO": "1"}).checked()
    assert a.zalo_oa_secret_key and a.secret_key and a.secret_key == b.secret_key


def test_session_key_is_derived_the_same_in_every_process_unless_given():
    assert Settings.from_env(FULL).checked().secret_key == Settings.from_env(FULL).checked().secret_key
    assert Settings.from_env({**FULL, "SECRET_KEY": "x"}).checked().secret_key == "x"


def test_national_index_paths():
    default = EngineSettings.from_env({})
    assert default.national_index.parts[-2:] == ("national", "index.jsonl") and default.national_index.exists()
    assert default.national_aliases.parts[-2:] == ("national", "aliases.yaml") and default.national_aliases.exists()
    s = EngineSettings.from_env({"BOT_NATIONAL_INDEX": "/srv/idx.jsonl", "BOT_NATIONAL_ALIASES": "/srv/aliases.yaml"})
    assert (str(s.national_index), str(s.national_aliases)) == ("/srv/idx.jsonl", "/srv/aliases.yaml")


def test_smtp_settings_from_environment():
    found = Settings.from_env({"SMTP_HOST": "mail.xa.example", "SMTP_PORT": "465", "SMTP_SECURITY": "ssl",
                               "SMTP_FROM": "bot@xa.example", "BOT_PUBLIC_URL": "https://bot.xa.example/"})
    assert (found.smtp_host, found.smtp_port, found.smtp_security, found.smtp_from, found.public_url) == (
        "mail.xa.example", 465, "ssl", "bot@xa.example", "https://bot.xa.example")


def test_a_wrong_smtp_security_is_named():
    with pytest.raises(ConfigError, match="SMTP_SECURITY"):
        Settings.from_env({"SMTP_SECURITY": "tls"})

def test_communes_only_needs_no_zalo_secrets_but_a_session_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"BOT_COMMUNES_ONLY": "1"}).checked()
    settings = Settings.from_env({"BOT_COMMUNES_ONLY": "1", "SECRET_KEY": "k"}).checked()
    assert settings.communes_only and settings.secret_key == "k" and settings.zalo_app_id == ""
    assert EngineSettings.from_env({"BOT_COMMUNES_DIR": "/srv/xa"}).communes_dir.as_posix() == "/srv/xa"
