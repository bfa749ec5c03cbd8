"""Unanswered-questions page and cluster actions: clusters, XSS, ignore/resolve, teach, reply."""
from __future__ import annotations

import datetime as dt
import random
import string

from sqlalchemy import select

from bot.catalog import load_catalog
from bot.state import MemoryStateStore
from tests.test_admin_support import (add_citizen, add_question, admin, admin_app, admin_client,  # noqa: F401
                                      admin_settings, catalog_copy, post, reviewer, send_webhook, users)
from webhooks.admin import engine_holder
from webhooks.admin.clusters import build_clusters
from webhooks.workers import run_until_idle
from webhooks.storage.models import AuditLog, ClusterMark, Message, Outbox

XSS = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>']
CAT = "con mèo nhà tôi bị lạc mất rồi"


def _engine(app):
    with app.app_context():
        return engine_holder().get()


def _clusters(app, db):
    with db.session() as s:
        return build_clusters(s, app.config["SETTINGS"].engine.thresholds)


def test_similar_questions_form_one_cluster_sorted_by_count(reviewer, admin_app, db):
    engine = _engine(admin_app)
    a, b = add_citizen(db, "z-a"), add_citizen(db, "z-b")
    for text in (CAT, "Con mèo nhà tôi bị lạc mất rồi!!", "con meo nha toi bi lac mat roi a"):
        add_question(db, engine, a, text)
    add_question(db, engine, b, "mèo nhà tôi bị lạc mất")  # a near-duplicate, merged fuzzily
    add_question(db, engine, b, "xin giấy phép karaoke")
    clusters = _clusters(admin_app, db)
    assert [c.count for c in clusters] == [4, 1]
    assert clusters[0].citizen_ids == [b, a]
    html = reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    assert html.index("4 lần hỏi") < html.index("1 lần hỏi")
    assert "mèo nhà tôi bị lạc mất" in html and "xin giấy phép karaoke" in html


def test_which_questions_count_as_unanswered(admin_app, db):
    engine = _engine(admin_app)
    t = admin_app.config["SETTINGS"].engine.thresholds
    c = add_citizen(db, "z-c")
    add_question(db, engine, c, "abandoned clarify", outcome="clarified", score=0.4)
    add_question(db, engine, c, "hoi chuyen khac han", outcome="fallback")
    d = add_citizen(db, "z-d")
    add_question(db, engine, d, "picked clarify", outcome="clarified", score=0.4)
    add_question(db, engine, d, "1", outcome="answered", score=1.0, intent="khai-sinh")
    add_question(db, engine, d, "weak answer", outcome="answered", score=t.answer + 0.01, intent="khai-sinh")
    add_question(db, engine, d, "strong answer", outcome="answered", score=0.95, intent="khai-sinh")
    add_question(db, engine, d, "gap can bo", outcome="handoff", score=0.9, intent="handoff")
    keys = {c.key for c in _clusters(admin_app, db)}
    assert keys == {"abandoned clarify", "hoi chuyen khac han", "weak answer"}


def test_citizen_text_is_escaped(reviewer, admin_app, db):
    engine = _engine(admin_app)
    c = add_citizen(db, "z-x")
    for text in XSS:
        add_question(db, engine, c, text)
    for url in ["/admin/cau-hoi"] + [f"/admin/cau-hoi/nhom?key={k.key}" for k in _clusters(admin_app, db)]:
        html = reviewer.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
    html = reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_ignore_sticks_for_the_same_and_similar_questions(reviewer, admin_app, db):
    engine = _engine(admin_app)
    c = add_citizen(db, "z-i")
    add_question(db, engine, c, CAT)
    key = _clusters(admin_app, db)[0].key
    response = post(reviewer, "/admin/cau-hoi/danh-dau", {"key": key, "status": "ignored"})
    assert response.status_code == 302
    add_question(db, engine, c, CAT)  # asked again later
    add_question(db, engine, c, "con mèo nhà tôi bị lạc mất rồi hu hu")  # a near-duplicate
    assert _clusters(admin_app, db) == []
    with db.session() as s:
        assert s.scalars(select(ClusterMark.status)).all() == ["ignored"]
        assert s.scalars(select(AuditLog.action).where(AuditLog.action.like("cluster.%"))).all() == ["cluster.ignored"]


def test_resolved_comes_back_only_when_asked_again(reviewer, admin_app, db):
    engine = _engine(admin_app)
    c = add_citizen(db, "z-r")
    add_question(db, engine, c, CAT)
    key = _clusters(admin_app, db)[0].key
    assert post(reviewer, "/admin/cau-hoi/danh-dau", {"key": key, "status": "resolved"}).status_code == 302
    assert _clusters(admin_app, db) == []
    add_question(db, engine, c, CAT, at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5))
    assert [cl.count for cl in _clusters(admin_app, db)] == [1]


def test_mark_form_errors(reviewer, admin_app, db):
    c = add_citizen(db, "z-m")
    add_question(db, _engine(admin_app), c, CAT)
    key = _clusters(admin_app, db)[0].key
    assert post(reviewer, "/admin/cau-hoi/danh-dau", {"key": key, "status": "xoa-het"}).status_code == 400
    assert post(reviewer, "/admin/cau-hoi/danh-dau", {"key": "khong co nhom nay", "status": "ignored"}
                ).status_code == 404
    assert reviewer.get("/admin/cau-hoi/nhom?key=khong+co+nhom+nay").status_code == 404


def test_cluster_page_shows_examples_guesses_and_window(reviewer, admin_app, db):
    engine = _engine(admin_app)
    fresh = add_citizen(db, "z-fresh")
    old = add_citizen(db, "z-old", last=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=9))
    text = "làm giấy khai sanh cho đứa nhỏ mới đẻ ở xóm trên"
    add_question(db, engine, fresh, text, candidates=[{"id": "khai-sinh", "score": 0.4}])
    add_question(db, engine, old, text, candidates=[{"id": "khai-sinh", "score": 0.4}])
    key = _clusters(admin_app, db)[0].key
    html = reviewer.get(f"/admin/cau-hoi/nhom?key={key}").get_data(as_text=True)
    assert text in html
    assert 'value="khai-sinh"' in html  # one click on the best guess
    assert "còn trong 7 ngày" in html and "đã quá 7 ngày" in html
    search = reviewer.get(f"/admin/cau-hoi/nhom?key={key}&q=kết hôn").get_data(as_text=True)
    assert 'value="ket-hon"' in search


def test_attach_teaches_the_bot_at_once(reviewer, admin_app, admin_settings, db):
    engine = _engine(admin_app)
    c = add_citizen(db, "z-t")
    text = "đứa nhỏ mới đẻ thì ra xã lấy cái giấy gì trước tiên"
    add_question(db, engine, c, text)
    assert engine.respond("probe", text, MemoryStateStore()).intent != "khai-sinh"
    key = _clusters(admin_app, db)[0].key
    response = post(reviewer, "/admin/cau-hoi/day-bot", {"key": key, "entry_id": "khai-sinh", "phrasings": [text]})
    assert response.status_code == 302
    assert text in load_catalog(admin_settings.engine.catalog_path, admin_settings.engine.intents_dir).entries["khai-sinh"].questions
    turn = _engine(admin_app).respond("probe-2", text, MemoryStateStore())
    assert (turn.outcome, turn.intent) == ("answered", "khai-sinh")
    assert _clusters(admin_app, db) == []
    with db.session() as s:
        mark = s.scalars(select(ClusterMark)).one()
        assert (mark.status, mark.entry_id, mark.by) == ("attached", "khai-sinh", "hoa")
        log = s.scalars(select(AuditLog).where(AuditLog.action == "catalog.phrasings")).one()
        assert log.username == "hoa" and log.detail["added"] == [text]
    assert "Đã dạy bot 1 câu" in reviewer.get("/admin/cau-hoi").get_data(as_text=True)


def test_attach_form_errors_leave_the_catalog_alone(reviewer, admin_app, admin_settings, db):
    c = add_citizen(db, "z-e")
    add_question(db, _engine(admin_app), c, CAT)
    key = _clusters(admin_app, db)[0].key
    before = admin_settings.engine.catalog_path.read_bytes()
    none_chosen = post(reviewer, "/admin/cau-hoi/day-bot", {"key": key, "entry_id": "khai-sinh"})
    assert none_chosen.status_code == 400 and "Chọn ít nhất một câu." in none_chosen.get_data(as_text=True)
    unknown = post(reviewer, "/admin/cau-hoi/day-bot", {"key": key, "entry_id": "khong-co", "phrasings": [CAT]})
    assert unknown.status_code == 400 and "khong-co" in unknown.get_data(as_text=True)
    foreign = post(reviewer, "/admin/cau-hoi/day-bot", {"key": key, "entry_id": "khai-sinh",
                                                        "phrasings": ["không phải câu của nhóm này"]})
    assert foreign.status_code == 400
    no_entry = post(reviewer, "/admin/cau-hoi/day-bot", {"key": key, "phrasings": [CAT]})
    assert no_entry.status_code == 400 and "Chọn một thủ tục." in no_entry.get_data(as_text=True)
    assert admin_settings.engine.catalog_path.read_bytes() == before


def test_reply_reaches_citizens_inside_the_window_and_names_the_others(reviewer, admin_app, db, fake_zalo):
    engine = _engine(admin_app)
    fresh = add_citizen(db, "z-fresh")
    old = add_citizen(db, "z-old", last=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=8))
    add_question(db, engine, fresh, CAT)
    add_question(db, engine, old, CAT)
    key = _clusters(admin_app, db)[0].key
    response = post(reviewer, "/admin/cau-hoi/tra-loi", {"key": key, "text": "Bạn liên hệ công an xã nhé."})
    assert response.status_code == 302
    run_until_idle(admin_app.extensions["bot.services"])
    sent = fake_zalo.delivered()
    assert [s.user_id for s in sent] == ["z-fresh"]
    assert sent[0].body["message"]["text"] == "Bạn liên hệ công an xã nhé."
    page = reviewer.get(response.headers["Location"]).get_data(as_text=True)
    assert "Đã gửi trả lời cho 1/2 người dân." in page and "Đã quá 7 ngày" in page
    with db.session() as s:
        staff = s.scalars(select(Message).where(Message.outcome == "staff")).one()
        assert staff.sent_by == "hoa"
        assert s.scalars(select(Outbox.status)).all() == ["sent"]
        assert s.scalars(select(AuditLog.action).where(AuditLog.action == "cluster.reply")).all() == ["cluster.reply"]


def test_reply_form_errors(reviewer, admin_app, db):
    c = add_citizen(db, "z-f")
    add_question(db, _engine(admin_app), c, CAT)
    key = _clusters(admin_app, db)[0].key
    empty = post(reviewer, "/admin/cau-hoi/tra-loi", {"key": key, "text": ""})
    assert empty.status_code == 400 and "Vui lòng nhập nội dung trả lời." in empty.get_data(as_text=True)
    long = post(reviewer, "/admin/cau-hoi/tra-loi", {"key": key, "text": "a" * 2001})
    assert long.status_code == 400 and "Tối đa 2.000 ký tự." in long.get_data(as_text=True)


def test_webhook_questions_become_a_cluster(reviewer, admin_app, admin_settings, db):
    question = "đóng thuế đất hằng năm ở đâu vậy"  # a real service the catalog has no guide for
    for user in ("w-1", "w-2"):
        assert send_webhook(reviewer, admin_settings, user, question).status_code == 200
    run_until_idle(admin_app.extensions["bot.services"])
    with db.session() as s:
        assert s.scalars(select(Message.outcome).where(Message.direction == "in")).all() == ["fallback"] * 2
    html = reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    assert question in html and "2 lần hỏi" in html


def test_pagination_and_period(reviewer, admin_app, db):
    engine = _engine(admin_app)
    c = add_citizen(db, "z-p")
    rng = random.Random(4)
    for _ in range(25):  # unrelated random words: 25 separate clusters
        add_question(db, engine, c, " ".join("".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(3)))
    add_question(db, engine, c, "chuyện cũ từ năm ngoái", at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=60))
    first = reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    assert "Trang 1/2" in first and "25 nhóm" in first
    assert "Trang 2/2" in reviewer.get("/admin/cau-hoi?page=2").get_data(as_text=True)
    assert "26 nhóm" in reviewer.get("/admin/cau-hoi?days=90").get_data(as_text=True)
    assert reviewer.get("/admin/cau-hoi?page=abc&days=zz").status_code == 200


def test_wordless_messages_form_a_cluster_that_can_be_ignored(reviewer, admin_app, db):
    engine = _engine(admin_app)
    assert engine.normalize("???") == ""
    add_question(db, engine, add_citizen(db, "z-q"), "???")
    html = reviewer.get("/admin/cau-hoi").get_data(as_text=True)
    assert "???" in html
    assert reviewer.get("/admin/cau-hoi/nhom?key=").status_code == 200
    assert post(reviewer, "/admin/cau-hoi/danh-dau", {"key": "", "status": "ignored"}).status_code == 302
    add_question(db, engine, add_citizen(db, "z-q2"), "!!!")
    assert _clusters(admin_app, db) == []


def test_fuzzy_merge_is_limited_to_the_biggest_groups(admin_app, db, monkeypatch):
    import webhooks.admin.clusters as clusters

    engine = _engine(admin_app)
    c = add_citizen(db, "z-l")
    for _ in range(3):
        add_question(db, engine, c, CAT)
    add_question(db, engine, c, "mèo nhà tôi bị lạc mất")
    assert [cl.count for cl in _clusters(admin_app, db)] == [4]
    monkeypatch.setattr(clusters, "MERGE_LIMIT", 1)  # the near-duplicate is now in the exact-only tail
    assert [cl.count for cl in _clusters(admin_app, db)] == [3, 1]


def _taught_emergency(app, db) -> tuple[str, str]:
    text = "ông hàng xóm lên cơn giật giật rồi"
    add_question(db, _engine(app), add_citizen(db, "z-k"), text)
    return text, _clusters(app, db)[0].key


def test_a_reviewer_cannot_teach_into_emergency_or_handoff(reviewer, admin_app, admin_settings, db):
    text, key = _taught_emergency(admin_app, db)
    before = (admin_settings.engine.intents_dir / "khan-cap.yaml").read_bytes()
    for entry in ("khan-cap", "handoff"):
        refused = post(reviewer, "/admin/cau-hoi/day-bot", {"key": key, "entry_id": entry, "phrasings": [text],
                                                            "confirm": "y"})
        assert refused.status_code == 403 and "Chỉ quản trị viên" in refused.get_data(as_text=True)
    assert (admin_settings.engine.intents_dir / "khan-cap.yaml").read_bytes() == before


def test_an_admin_teaches_an_emergency_after_confirming(admin, admin_app, admin_settings, db):
    text, key = _taught_emergency(admin_app, db)
    emergency = admin_settings.engine.intents_dir / "khan-cap.yaml"
    before = emergency.read_bytes()
    unconfirmed = post(admin, "/admin/cau-hoi/day-bot", {"key": key, "entry_id": "khan-cap", "phrasings": [text]})
    assert unconfirmed.status_code == 400 and "xác nhận" in unconfirmed.get_data(as_text=True)
    assert emergency.read_bytes() == before
    confirmed = post(admin, "/admin/cau-hoi/day-bot",
                     {"key": key, "entry_id": "khan-cap", "phrasings": [text], "confirm": "y"})
    assert confirmed.status_code == 302
    assert _engine(admin_app).respond("probe", text, MemoryStateStore()).outcome == "emergency"


def test_weak_guesses_are_not_one_tap_targets(reviewer, admin_app, db):
    weak = admin_app.config["SETTINGS"].engine.thresholds.clarify / 2
    add_question(db, _engine(admin_app), add_citizen(db, "z-w"), "cái này là sao vậy trời",
                 candidates=[{"id": "khai-sinh", "score": weak}, {"id": "khan-cap", "score": weak}])
    key = _clusters(admin_app, db)[0].key
    html = reviewer.get(f"/admin/cau-hoi/nhom?key={key}").get_data(as_text=True)
    assert 'value="khai-sinh"' not in html and 'value="khan-cap"' not in html and "Bot đoán là" not in html


def test_a_reported_wrong_answer_is_queued_with_the_exchange(reviewer, admin_app, db):
    text = "sửa tên trong giấy khai sinh cho con"
    question = add_question(db, _engine(admin_app), add_citizen(db, "z-r"), text, outcome="answered", score=0.9,
                            intent="khai-sinh")
    assert _clusters(admin_app, db) == []  # a confident answer is not queued by itself
    with db.session() as s:
        row = s.get(Message, question)
        row.review, row.report = "wrong_answer", {"question": text, "answered": "khai-sinh", "said": "không phải"}
    key = _clusters(admin_app, db)[0].key
    html = reviewer.get(f"/admin/cau-hoi/nhom?key={key}").get_data(as_text=True)
    assert "Trả lời sai" in html and "Đăng ký khai sinh" in html and "không phải" in html
