"""`python -m benchmarks admin`: render times of the dashboard's heavy pages over 10,000 questions and 1,000
hand-overs: unanswered questions, the hand-overs inbox, statistics and the weekly summary."""
from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from webhooks.settings import Settings
from webhooks.storage.engine import Database

# Page -> p50 target in seconds.
PAGES = {"/admin/cau-hoi?days=30": 1.0, "/admin/gap-can-bo": 0.3, "/admin/thong-ke": 0.3, "/admin/thong-ke/tuan": 0.3}
THINGS = ("giấy phép karaoke", "đăng ký nuôi chó", "cấp phép sửa nhà tạm", "trợ cấp lũ lụt", "xin số nhà",
          "đăng ký hộ nghèo", "học bổng cho con", "vay vốn ngân hàng chính sách", "cắt điện nhà bên",
          "tiền điện tăng", "chặt cây trước nhà", "bồi thường giải phóng mặt bằng", "mua đất nông nghiệp",
          "đổi tên cho con", "xác nhận độc thân đi làm", "thẻ xe buýt người già", "lương hưu chậm",
          "tiêm phòng cho bé", "rác không ai thu", "đèn đường hư", "đăng ký kinh doanh online shopee",
          "cấp lại mã số thuế", "giấy phép bán rượu", "hàng xóm lấn đất", "xin giấy tạm vắng")
OPENERS = ("cho hỏi", "ad ơi", "xin hỏi", "", "mình muốn hỏi", "chị ơi", "cho em hỏi")
ENDINGS = ("làm sao", "ở đâu", "cần gì", "bao lâu", "mất bao nhiêu tiền", "có được không", "thế nào ạ", "")


def _phrasings(rng: random.Random, count: int) -> list[str]:
    """Distinct citizen-like questions the catalog does not cover."""
    out = {f"{o} {t} {e} {n}".strip() for o in OPENERS for t in THINGS for e in ENDINGS for n in ("", "nhé", "vậy")}
    return rng.sample(sorted(out), min(count, len(out)))


def fill(database: Database, engine: Any, questions: int = 10_000, citizens: int = 2_000, seed: int = 7) -> None:
    """Insert `questions` unanswered inbound messages, popular phrasings asked far more often."""
    from webhooks.storage.models import Citizen, Message

    rng = random.Random(seed)
    phrasings = _phrasings(rng, 1500)
    weights = [1 / (rank + 1) for rank in range(len(phrasings))]  # Zipf-like: a few questions dominate
    ids = list(engine.catalog.entries)[:20]
    now = dt.datetime.now(dt.timezone.utc)
    with database.session() as session:
        session.execute(insert(Citizen), [{"zalo_id": f"bench-{i}", "last_interaction": now} for i in range(citizens)])
    with database.session() as session:
        rows = []
        for i, text in enumerate(rng.choices(phrasings, weights, k=questions)):
            picked = rng.sample(ids, 3) if len(ids) >= 3 else ids
            rows.append({"citizen_id": rng.randint(1, citizens), "direction": "in", "msg_id": f"bench-{i}",
                         "text": text, "normalized": engine.normalize(text), "outcome": "fallback",
                         "score": rng.uniform(0, 0.3), "status": "processed",
                         "candidates": [{"id": c, "score": rng.uniform(0, 0.3)} for c in picked],
                         "created_at": now - dt.timedelta(minutes=rng.randint(0, 60 * 24 * 25))})
        session.execute(insert(Message), rows)


def fill_handoffs(database: Database, handoffs: int = 1_000, citizens: int = 2_000, seed: int = 11) -> None:
    """`handoffs` hand-overs over the last 25 days, each with its request, messages while waiting and (most)
    a staff reply; a tenth still open."""
    from webhooks.storage.models import Handoff, Message

    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    opened, messages = [], []
    for i in range(handoffs):
        citizen = rng.randint(1, citizens)
        start = now - dt.timedelta(minutes=rng.randint(60, 60 * 24 * 25))
        still_open = i % 10 == 0
        opened.append({"citizen_id": citizen, "opened_at": start,
                       "closed_at": None if still_open else start + dt.timedelta(hours=2),
                       "closed_by": None if still_open else "bench"})
        messages.append({"citizen_id": citizen, "direction": "in", "msg_id": f"bench-h{i}", "text": "gặp cán bộ",
                         "outcome": "handoff", "intent": "handoff", "status": "processed", "created_at": start})
        for n in range(2):
            messages.append({"citizen_id": citizen, "direction": "in", "msg_id": f"bench-h{i}-{n}",
                             "text": "cán bộ ơi cho hỏi", "outcome": "waiting", "status": "processed",
                             "created_at": start + dt.timedelta(minutes=n + 1)})
        if i % 5:
            messages.append({"citizen_id": citizen, "direction": "out", "text": "Chào anh/chị, cán bộ xã đây.",
                             "outcome": "staff", "sent_by": "bench", "status": "sent",
                             "created_at": start + dt.timedelta(minutes=rng.randint(5, 90))})
    with database.session() as session:
        session.execute(insert(Handoff), opened)
        session.execute(insert(Message), messages)


def run(questions: int = 10_000, handoffs: int = 1_000, repeat: int = 7, out: Any = None) -> dict[str, float]:
    """Fill a temporary database, render each page `repeat` times; the median seconds per page."""
    from webhooks import create_app
    from webhooks.admin.accounts import create_user
    from webhooks.storage import migrate

    out = out or sys.stdout
    medians: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-admin-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        database = Database(url)
        migrate.upgrade(database)
        settings = Settings.from_env(database_url=url, demo=True, secret_key="bench-secret").checked()
        app = create_app({"SETTINGS": settings, "DATABASE": database, "TESTING": True,
                          "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
        with app.app_context():
            from webhooks.admin import engine_holder

            fill(database, engine_holder().get(), questions)
        fill_handoffs(database, handoffs)
        with database.session() as session:
            create_user(session, "bench", "bench-password-123", "reviewer", by="bench")
        client = app.test_client()
        client.post("/admin/login", data={"username": "bench", "password": "bench-password-123"})
        for page in PAGES:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                response = client.get(page)
                times.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{page} answered {response.status_code}")
            medians[page] = statistics.median(times)
            print(f"{page}: p50 {medians[page] * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {repeat} lần "
                  f"(mục tiêu < {PAGES[page] * 1000:.0f} ms)", file=out)
        database.dispose()
    print(f"({questions} câu hỏi chưa trả lời, {handoffs} lần gặp cán bộ, SQLite)", file=out)
    return medians


def main(argv: list[str] | None = None) -> int:
    """Run it; exit 1 when a page is over its target."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks admin")
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--handoffs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    medians = run(args.questions, args.handoffs, args.repeat)
    return 0 if all(medians[page] < target for page, target in PAGES.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
