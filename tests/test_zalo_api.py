"""Tests of ZaloClient against FakeZalo: classification, failures of the network, token refresh."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from pathlib import Path

import pytest

from bot.replies import Button, Reply
from webhooks.settings import Settings
from tests.fake_zalo import INVALID_REFRESH_TOKEN, FakeZalo
from tests.zalo_fixtures import fake_zalo  # noqa: F401  (pytest fixture)
from webhooks.storage.engine import Database
from webhooks.storage.models import Base
from webhooks.zalo.tokens import MemoryTokenStore, SqlTokenStore, TokenPair
from webhooks.zalo.rendering import render
from webhooks.zalo.api import SendResult, TokenRefreshError, ZaloClient, next_morning

USER = "246845883529197922"
REPLY = Reply("Hồ sơ khai sinh gồm tờ khai và giấy chứng sinh.",
              (Button("Giấy tờ cần chuẩn bị", "query", "#giayto khai-sinh"),))
NOW = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)
LATER = NOW + dt.timedelta(hours=20)


def settings_for(zalo: FakeZalo, **overrides: object) -> Settings:
    """Settings pointing at the fake, with a short timeout so timeouts are quick."""
    return Settings(**{**zalo.settings_overrides(), "http_timeout": 0.5, **overrides})


def fresh_store(zalo: FakeZalo, expires_at: dt.datetime | None = LATER) -> MemoryTokenStore:
    """A store holding the fake's currently valid pair."""
    return MemoryTokenStore(TokenPair(zalo.access_token, zalo.refresh_token, expires_at))


def client_for(zalo: FakeZalo, store=None, now: dt.datetime = NOW, **overrides: object) -> ZaloClient:
    """A client with a fixed clock."""
    return ZaloClient(settings_for(zalo, **overrides), store or fresh_store(zalo), clock=lambda: now)


def test_send_posts_the_rendered_body_with_the_access_token_header(fake_zalo):
    result = client_for(fake_zalo).send(USER, REPLY)
    assert result.status == "sent" and result.error_code == 0
    assert result.message_id and result.message_id.startswith("fake-msg-")
    [record] = fake_zalo.delivered()
    assert record.body == render(REPLY, USER) and record.user_id == USER
    assert record.headers["access_token"] == "fake-access-1"
    assert "authorization" not in record.headers
    assert record.headers["content-type"].startswith("application/json")


def test_unrenderable_message_is_permanent_without_a_request(fake_zalo):
    result = client_for(fake_zalo).send("", REPLY)
    assert result.status == "permanent" and fake_zalo.sends == []


@pytest.mark.parametrize("code, status, words", [
    (-32, "retry", "tốc độ"),
    (-211, "retry", "hạn mức"),
    (-201, "permanent", "Tham số"),
    (-213, "permanent", "chưa quan tâm"),
    (-227, "permanent", "45 ngày"),
    (-230, "permanent", "Quá 7 ngày công dân không tương tác (-230)"),
    (-232, "permanent", "Quá 7 ngày công dân không tương tác (-232)"),
    (-240, "permanent", "v2.0"),
    (-244, "permanent", "chặn"),
    (-999, "unknown", "chưa biết"),  # retried a few times before failing (outbox.retries)
    (-1, "unknown", "chưa biết"),
    (-234, "night", "06:00"),
])
def test_each_error_code_is_classified(fake_zalo, code, status, words):
    fake_zalo.fail_next(1, code)
    result = client_for(fake_zalo).send(USER, REPLY)
    assert (result.status, result.error_code) == (status, code)
    assert words in result.message and result.message.endswith(f"({code})")
    assert (result.retry_at is not None) is (status == "night")
    assert len(fake_zalo.sends) == 1 and fake_zalo.refreshes == []


@pytest.mark.parametrize("now, morning", [
    (dt.datetime(2026, 11, 21, 16, 0, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 21, 23, 0, tzinfo=dt.timezone.utc)),
    (dt.datetime(2026, 11, 21, 22, 30, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 21, 23, 0, tzinfo=dt.timezone.utc)),
    (dt.datetime(2026, 11, 21, 23, 0, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.timezone.utc)),
    (dt.datetime(2026, 12, 31, 15, 59, tzinfo=dt.timezone.utc), dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.timezone.utc)),
])
def test_night_retry_is_the_next_six_oclock_in_vietnam(fake_zalo, now, morning):
    assert next_morning(now) == morning
    fake_zalo.fail_next(1, -234)
    result = client_for(fake_zalo, now=now).send(USER, REPLY)
    assert result.retry_at == morning and result.retry_at.tzinfo == dt.timezone.utc


@pytest.mark.parametrize("script, status", [
    (lambda z: z.delay_next(1, 3.0), "retry"),  # client timeout 0.5 s
    (lambda z: z.drop_next(1), "retry"),
    (lambda z: z.down(), "retry"),
    *[(lambda z, s=s, b=b: z.http_status_next(1, s, body=b), "retry")
      for s in (500, 502, 503, 504, 408, 429) for b in (b"<html>x</html>", b"", b'{"error": 500}', b'{"error": -1}',
                                                         b'{"error": -201}')],
    (lambda z: z.http_status_next(1, 200), "retry"),  # 200 with a body that is not JSON
    (lambda z: z.http_status_next(1, 404), "permanent"),
    (lambda z: z.http_status_next(1, 400, body=b""), "permanent"),
])
def test_network_failures(fake_zalo, script, status):
    script(fake_zalo)
    result = client_for(fake_zalo).send(USER, REPLY)
    assert result.status == status and result.message
    assert fake_zalo.refreshes == []


def test_a_refused_connection_is_retried(fake_zalo):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = client_for(fake_zalo, zalo_api_base=f"http://127.0.0.1:{port}").send(USER, REPLY)
    assert result.status == "retry" and "Không kết nối được Zalo" in result.message


def test_back_up_after_down(fake_zalo):
    client = client_for(fake_zalo)
    fake_zalo.down()
    assert client.send(USER, REPLY).status == "retry"
    fake_zalo.up()
    assert client.send(USER, REPLY).status == "sent"


@pytest.mark.parametrize("code", [-216, -220])
def test_token_error_refreshes_once_and_stores_the_pair_before_using_it(fake_zalo, code):
    store = fresh_store(fake_zalo)
    old_refresh = fake_zalo.refresh_token
    seen_in_store: list[tuple[str, str]] = []
    fake_zalo.on_send = lambda record: seen_in_store.append((record.headers["access_token"], store.load().access_token))
    fake_zalo.fail_next(1, code)
    result = client_for(fake_zalo, store).send(USER, REPLY)
    assert result.status == "sent"
    assert len(fake_zalo.issued()) == 1 and fake_zalo.refreshes[0].form["refresh_token"] == old_refresh
    assert store.load() == TokenPair(fake_zalo.access_token, fake_zalo.refresh_token, NOW + dt.timedelta(seconds=90000))
    assert seen_in_store == [(fake_zalo.access_token, fake_zalo.access_token)]


def test_expired_token_on_the_server_is_refreshed(fake_zalo):
    store = fresh_store(fake_zalo)
    fake_zalo.expire_access_token()
    assert client_for(fake_zalo, store).send(USER, REPLY).status == "sent"
    assert [r.outcome for r in fake_zalo.sends] == ["error -216", "sent"]


def test_token_error_after_refresh_is_retry_not_a_loop(fake_zalo):
    fake_zalo.fail_next(3, -216)
    result = client_for(fake_zalo).send(USER, REPLY)
    assert (result.status, result.error_code) == ("retry", -216)
    assert len(fake_zalo.sends) == 2 and len(fake_zalo.refreshes) == 1


def test_reused_refresh_token_is_rejected_and_the_store_kept(fake_zalo):
    stale = TokenPair(fake_zalo.access_token, fake_zalo.refresh_token, LATER)
    client_for(fake_zalo, fresh_store(fake_zalo)).refresh()  # consumes refresh-1
    store = MemoryTokenStore(stale)
    with pytest.raises(TokenRefreshError) as info:
        client_for(fake_zalo, store).refresh()
    assert info.value.code == INVALID_REFRESH_TOKEN and "used" in str(info.value)
    assert store.load() == stale and store.saves == 0


def test_send_with_a_dead_refresh_token_is_retry_and_keeps_the_store(fake_zalo):
    stale = TokenPair("fake-access-1", "fake-refresh-1", LATER)
    client_for(fake_zalo, fresh_store(fake_zalo)).refresh()
    store = MemoryTokenStore(stale)
    result = client_for(fake_zalo, store).send(USER, REPLY)
    assert (result.status, result.error_code) == ("retry", INVALID_REFRESH_TOKEN)
    assert store.load() == stale


@pytest.mark.parametrize("script", [lambda z: z.drop_next(1, oauth=True),
                                    lambda z: z.http_status_next(1, 500, oauth=True)])
def test_refresh_failures_raise_clear_errors(fake_zalo, script):
    store = fresh_store(fake_zalo)
    script(fake_zalo)
    with pytest.raises(TokenRefreshError, match="token Zalo"):
        client_for(fake_zalo, store).refresh()
    assert store.saves == 0


@pytest.mark.parametrize("minutes_left, refreshed", [(5, True), (-1, True), (20, False)])
def test_token_near_expiry_is_refreshed_before_sending(fake_zalo, minutes_left, refreshed):
    store = fresh_store(fake_zalo, NOW + dt.timedelta(minutes=minutes_left))
    assert client_for(fake_zalo, store).send(USER, REPLY).status == "sent"
    assert len(fake_zalo.issued()) == int(refreshed)
    assert [r.outcome for r in fake_zalo.sends] == ["sent"]


def test_failed_early_refresh_still_sends_with_a_valid_old_token(fake_zalo):
    store = fresh_store(fake_zalo, NOW + dt.timedelta(minutes=5))
    fake_zalo.fail_next(1, -14002, oauth=True)
    assert client_for(fake_zalo, store).send(USER, REPLY).status == "sent"
    assert store.saves == 0


def test_empty_store_falls_back_to_the_environment_pair(fake_zalo):
    store = MemoryTokenStore()
    client = client_for(fake_zalo, store)  # settings carry the pair the fake issued
    fake_zalo.expire_access_token()
    assert client.send(USER, REPLY).status == "sent"
    assert store.load().refresh_token == fake_zalo.refresh_token


def _race(clients: list[ZaloClient]) -> list[SendResult]:
    results: list[SendResult] = []
    barrier = threading.Barrier(len(clients))

    def run(client: ZaloClient) -> None:
        barrier.wait()
        results.append(client.send(USER, REPLY))

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_threads_racing_to_refresh_make_one_refresh_call(fake_zalo, tmp_path, backend):
    if backend == "memory":
        stores = [fresh_store(fake_zalo)] * 6
    else:
        seed_sqlite(tmp_path, fake_zalo)
        stores = [SqlTokenStore(Database(f"sqlite:///{tmp_path / 'bot.db'}")) for _ in range(6)]
    fake_zalo.expire_access_token()
    fake_zalo.delay_next(1, 0.3, oauth=True)  # keep the first refresh in flight while others queue
    results = _race([client_for(fake_zalo, store, http_timeout=5.0) for store in stores])
    assert [r.status for r in results] == ["sent"] * 6
    assert len(fake_zalo.refreshes) == 1


def seed_sqlite(tmp_path: Path, zalo: FakeZalo) -> str:
    """A SQLite database holding the fake's current pair; returns its URL."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    database = Database(url)
    Base.metadata.create_all(database.engine)
    SqlTokenStore(database).seed(zalo.access_token, zalo.refresh_token)
    database.dispose()
    return url


def send_from_process(url: str, overrides: dict[str, str], barrier, results) -> None:
    """Child-process body: one send through a client on the shared SQLite token store."""
    settings = Settings(**overrides, http_timeout=5.0)
    client = ZaloClient(settings, SqlTokenStore(Database(url)))
    barrier.wait()
    results.put(client.send(USER, Reply("Xin chào")).status)


def test_processes_racing_to_refresh_make_one_refresh_call(fake_zalo, tmp_path):
    url = seed_sqlite(tmp_path, fake_zalo)
    fake_zalo.expire_access_token()
    fake_zalo.delay_next(1, 0.3, oauth=True)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    overrides = fake_zalo.settings_overrides()
    children = [context.Process(target=send_from_process, args=(url, overrides, barrier, results))
                for _ in range(3)]
    for child in children:
        child.start()
    statuses = sorted(results.get(timeout=60) for _ in children)
    for child in children:
        child.join(timeout=60)
    assert statuses == ["sent"] * 3
    assert len(fake_zalo.refreshes) == 1
    assert SqlTokenStore(Database(url)).load().refresh_token == fake_zalo.refresh_token


def test_user_detail_returns_zalos_profile(fake_zalo):
    fake_zalo.profiles["u-9"] = {"display_name": "Nguyễn Văn Nam", "avatar": "https://s120-ava-talk.zadn.vn/a.jpg"}
    client = client_for(fake_zalo)
    assert client.user_detail("u-9")["display_name"] == "Nguyễn Văn Nam"
    assert client.user_detail("not-a-follower") is None  # Zalo's error: no profile, no exception
    assert fake_zalo.detail_requests == ["u-9", "not-a-follower"]


def test_user_detail_refreshes_a_rejected_token_once(fake_zalo):
    fake_zalo.profiles["u-9"] = {"display_name": "Nam"}
    client = client_for(fake_zalo)
    fake_zalo.expire_access_token()
    assert client.user_detail("u-9") == {"user_id": "u-9", "display_name": "Nam"}
    assert len(fake_zalo.issued()) == 1


def test_user_detail_with_zalo_down_is_none(fake_zalo):
    fake_zalo.down()
    assert client_for(fake_zalo, http_timeout=0.5).user_detail("u-9") is None
