"""Each commune's token pair lives in its row, refreshed under its own lock: one OA's refresh never waits on another's."""
from __future__ import annotations

import datetime as dt
import threading

from webhooks.communes.registry import add_commune
from webhooks.communes.tokens import CommuneTokenStore
from webhooks.zalo.tokens import SqlTokenStore, TokenPair


def test_pairs_are_per_commune_and_apart_from_the_environments(db):
    a = add_commune(db, slug="a", name="Xã A", oa_id="oa-a", access_token="acc-a", refresh_token="ref-a")
    b = add_commune(db, slug="b", name="Xã B", oa_id="oa-b", access_token="acc-b", refresh_token="ref-b")
    environment = SqlTokenStore(db)
    environment.seed("acc-env", "ref-env")
    later = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    CommuneTokenStore(db, a).save(TokenPair("acc-a2", "ref-a2", later))
    assert CommuneTokenStore(db, a).load() == TokenPair("acc-a2", "ref-a2", later)
    assert CommuneTokenStore(db, b).load().access_token == "acc-b"
    assert environment.load().access_token == "acc-env" and not CommuneTokenStore(db, b).seed("x", "y")


def test_one_communes_refresh_lock_does_not_hold_another(db, tmp_path):
    a = add_commune(db, slug="a", name="Xã A", oa_id="oa-a", access_token="acc-a", refresh_token="ref-a")
    b = add_commune(db, slug="b", name="Xã B", oa_id="oa-b", access_token="acc-b", refresh_token="ref-b")
    store_a = CommuneTokenStore(db, a, lock_path=tmp_path / "lock.a")
    store_b = CommuneTokenStore(db, b, lock_path=tmp_path / "lock.b")
    again_a = CommuneTokenStore(db, a, lock_path=tmp_path / "lock.a")  # another process's view of A
    release = threading.Event()

    def hold(store: CommuneTokenStore, got: threading.Event) -> threading.Thread:
        def run() -> None:
            with store.refresh_lock():
                got.set()
                release.wait(10)
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    held, got_b, got_a = threading.Event(), threading.Event(), threading.Event()
    threads = [hold(store_a, held)]
    try:
        assert held.wait(10)
        threads += [hold(store_b, got_b), hold(again_a, got_a)]
        assert got_b.wait(5)  # B refreshes while A's refresh is under way
        assert not got_a.wait(0.5)  # A's second refresher waits for the first
    finally:
        release.set()
        for thread in threads:
            thread.join(10)
    assert got_a.is_set()
