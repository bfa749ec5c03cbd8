"""Thống kê, Thử bot, Danh mục and Xuất CSV pages."""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace

from sqlalchemy import select

from bot.catalog import load_catalog
from bot.national import load_national
from tests.test_admin_support import (add_citizen, add_question, admin, admin_app, admin_client,  # noqa: F401
                                      admin_settings, catalog_copy, post, reviewer, users)
from webhooks.admin import engine_holder
from webhooks.admin.stats import VN, collect
from webhooks.storage.models import AuditLog, ConversationRow

NOW = dt.datetime.now(dt.timezone.utc)


def _engine(app):
    with app.app_context():
        return engine_holder().get()


def _seed(app, db):
    engine = _engine(app)
    c = add_citizen(db, "s-1")
    add_question(db, engine, c, "làm giấy khai sinh", outcome="answered", score=0.9, intent="khai-sinh")
    add_question(db, engine, c, "khai sinh cần gì", outcome="answered", score=0.9, intent="khai-sinh")
    add_question(db, engine, c, "đăng ký kết hôn", outcome="answered", score=0.9, intent="ket-hon")
    add_question(db, engine, c, "con mèo bị lạc", outcome="fallback", at=NOW - dt.timedelta(days=2))
    add_question(db, engine, c, "hỏi lại", outcome="clarified", score=0.4)
    add_question(db, engine, c, "gặp cán bộ", outcome="handoff", score=0.9, intent="handoff")
    add_question(db, engine, c, "chuyện xưa", outcome="fallback", at=NOW - dt.timedelta(days=100))
    return c


def test_stats_count_every_kind_of_question_but_not_system_events(admin_app, db):
    engine = _engine(admin_app)
    c = add_citizen(db, "s-2")
    for outcome in ("out_of_scope", "smalltalk", "wrong_answer", "waiting", "emergency", "system", "ignored"):
        add_question(db, engine, c, f"câu {outcome}", outcome=outcome)
    today = dt.datetime.now(VN).date()
    with db.session() as s:
        data = collect(s, today, today)
    assert data.outcomes == {"out_of_scope": 1, "smalltalk": 1, "wrong_answer": 1, "waiting": 1, "emergency": 1}
    html = admin_app.jinja_env.filters["outcome_label"]("out_of_scope")
    assert html == "Ngoài phạm vi"


def test_stats_counts(admin_app, db):
    _seed(admin_app, db)
    today = dt.datetime.now(VN).date()
    with db.session() as s:
        data = collect(s, today - dt.timedelta(days=29), today)
    assert data.total == 6
    assert data.outcomes == {"answered": 3, "fallback": 1, "clarified": 1, "handoff": 1}
    assert data.top_entries == [("khai-sinh", 2), ("ket-hon", 1)]
    assert round(data.share("answered")) == 50
    assert len(data.per_day) == 30 and data.per_day[-1][1] >= 4


def test_stats_page_draws_svg_bars(reviewer, admin_app, db):
    _seed(admin_app, db)
    html = reviewer.get("/admin/thong-ke").get_data(as_text=True)
    assert "<svg" in html and "<rect" in html and "6</strong> câu hỏi" in html
    assert "Đăng ký khai sinh" in html or "khai sinh" in html.lower()
    assert "con mèo bị lạc" in html  # among the top unanswered clusters
    start = (dt.datetime.now(VN).date() - dt.timedelta(days=120)).isoformat()
    longer = reviewer.get(f"/admin/thong-ke?start={start}").get_data(as_text=True)
    assert "7</strong> câu hỏi" in longer


def test_stats_period_errors(reviewer):
    bad_order = reviewer.get("/admin/thong-ke?start=2026-05-10&end=2026-05-01")
    assert bad_order.status_code == 400 and "Ngày kết thúc phải sau ngày bắt đầu." in bad_order.get_data(as_text=True)
    wrong = reviewer.get("/admin/thong-ke?start=không-phải-ngày")
    assert wrong.status_code == 400 and "ngày/tháng/năm" in wrong.get_data(as_text=True)
    too_long = reviewer.get("/admin/thong-ke?start=01/01/2024&end=01/01/2026")
    assert too_long.status_code == 400 and "tối đa 366 ngày" in too_long.get_data(as_text=True)


def test_stats_dates_are_dd_mm_yyyy(reviewer):
    html = reviewer.get("/admin/thong-ke?start=05/11/2026&end=04/12/2026").get_data(as_text=True)
    assert 'value="05/11/2026"' in html and 'value="04/12/2026"' in html and 'type="date"' not in html
    assert "Từ 05/11/2026 đến 04/12/2026" in html
    iso = reviewer.get("/admin/thong-ke?start=2026-11-05&end=2026-12-04").get_data(as_text=True)
    assert 'value="05/11/2026"' in iso  # links written with ISO dates still work, shown dd/mm/yyyy


def test_test_chat_talks_to_the_engine_with_state(reviewer, db):
    response = post(reviewer, "/admin/thu-bot", {"text": "làm giấy khai sinh cho con cần gì"})
    assert response.status_code == 302
    html = reviewer.get("/admin/thu-bot").get_data(as_text=True)
    assert "làm giấy khai sinh cho con cần gì" in html and "khai-sinh" in html and "Đã trả lời" in html
    with db.session() as s:
        assert s.get(ConversationRow, "admin:hoa").data["last_entry"] == "khai-sinh"
    post(reviewer, "/admin/thu-bot", {"text": '<script>alert("x")</script>'})
    html = reviewer.get("/admin/thu-bot").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert post(reviewer, "/admin/thu-bot/lam-lai", {}).status_code == 302
    assert "làm giấy khai sinh cho con cần gì" not in reviewer.get("/admin/thu-bot").get_data(as_text=True)
    with db.session() as s:
        assert s.get(ConversationRow, "admin:hoa") is None


def test_test_chat_empty_message(reviewer):
    response = post(reviewer, "/admin/thu-bot", {"text": ""})
    assert response.status_code == 400 and "Vui lòng nhập câu hỏi." in response.get_data(as_text=True)


def test_catalog_page_flags_stale_and_unsourced_entries(admin, admin_settings):
    text = admin_settings.engine.catalog_path.read_text(encoding="utf-8")
    start = text.index("id: khai-sinh")
    block_end = text.index("\n  - ", start)
    block = text[start:block_end]
    reviewed = next(line for line in block.splitlines() if line.strip().startswith("reviewed:"))
    stale = block.replace(reviewed, reviewed.split(":")[0] + ": 2020-01-01")
    admin_settings.engine.catalog_path.write_text(text[:start] + stale + text[block_end:], encoding="utf-8")
    html = admin.get("/admin/danh-muc").get_data(as_text=True)
    assert "quá 12 tháng" in html and "01/01/2020" in html
    assert "khai-sinh: reviewed 2020-01-01, over 12 months ago" in html  # the lint report


def test_catalog_entry_adds_phrasings(admin, admin_app, admin_settings, db):
    page = admin.get("/admin/danh-muc/khai-sinh").get_data(as_text=True)
    assert "Các câu hỏi mẫu" in page
    response = post(admin, "/admin/danh-muc/khai-sinh", {"text": "đẻ con xong ra xã khai cái gì vậy ta\n\n"})
    assert response.status_code == 302
    assert "đẻ con xong ra xã khai cái gì vậy ta" in admin_settings.engine.catalog_path.read_text(encoding="utf-8")
    assert "đẻ con xong ra xã khai cái gì vậy ta" in _engine(admin_app).catalog.entries["khai-sinh"].questions
    with db.session() as s:
        assert s.scalars(select(AuditLog.username).where(AuditLog.action == "catalog.phrasings")).all() == ["lan"]
    duplicate = post(admin, "/admin/danh-muc/khai-sinh", {"text": "đẻ con xong ra xã khai cái gì vậy ta"})
    assert duplicate.status_code == 400 and "đã có" in duplicate.get_data(as_text=True)
    assert post(admin, "/admin/danh-muc/khai-sinh", {"text": ""}).status_code == 400
    assert admin.get("/admin/danh-muc/khong-co-muc-nay").status_code == 404


def test_csv_export_is_pseudonymous_and_inert(admin, admin_app, db):
    engine = _engine(admin_app)
    c = add_citizen(db, "zalo-that-123")
    add_question(db, engine, c, "=HYPERLINK(\"http://evil\")", outcome="fallback")
    add_question(db, engine, c, "làm giấy khai sinh", outcome="answered", score=0.9, intent="khai-sinh")
    add_question(db, engine, c, "chuyện xưa", outcome="fallback", at=NOW - dt.timedelta(days=100))
    today = dt.datetime.now(VN).date()
    response = admin.get(f"/admin/xuat-csv?download=1&start={today - dt.timedelta(days=7)}&end={today}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert "zalo-that-123" not in body
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert list(rows[0]) == ["Thời gian", "Mã người dân", "Câu hỏi", "Mã mục", "Mục bot nhận ra", "Kết quả",
                             "Cần xem", "Độ tin cậy"]
    assert [r["Câu hỏi"] for r in rows] == ["'=HYPERLINK(\"http://evil\")", "làm giấy khai sinh"]
    assert (rows[1]["Mã mục"], rows[1]["Mục bot nhận ra"]) == ("khai-sinh", "Đăng ký khai sinh")
    assert (rows[0]["Kết quả"], rows[1]["Kết quả"], rows[1]["Độ tin cậy"]) == ("Không hiểu", "Đã trả lời", "0,900")
    assert dt.datetime.strptime(rows[1]["Thời gian"], "%d/%m/%Y %H:%M:%S").date() == today
    assert rows[0]["Mã người dân"] == rows[1]["Mã người dân"] and rows[0]["Mã người dân"].startswith("cd-")
    with db.session() as s:
        assert s.scalars(select(AuditLog.action).where(AuditLog.username == "lan")).all()[-1] == "export.csv"


def test_csv_export_form_and_errors(admin):
    assert "Tải CSV" in admin.get("/admin/xuat-csv").get_data(as_text=True)
    bad = admin.get("/admin/xuat-csv?download=1&start=2026-05-10&end=2026-05-01")
    assert bad.status_code == 400 and "Ngày kết thúc phải sau ngày bắt đầu." in bad.get_data(as_text=True)
    too_long = admin.get("/admin/xuat-csv?download=1&start=01/01/2025&end=31/03/2026")
    assert too_long.status_code == 400 and too_long.mimetype == "text/html"
    assert "tối đa 366 ngày" in too_long.get_data(as_text=True)  # refused, not cut to the last year
    year = admin.get("/admin/xuat-csv?download=1&start=01/04/2025&end=31/03/2026")
    assert year.status_code == 200 and 'cau-hoi_01-04-2025_31-03-2026.csv' in year.headers["Content-Disposition"]


def test_catalog_page_lists_and_searches_the_national_index(admin, admin_app, tmp_path):
    engine_settings = admin_app.config["SETTINGS"].engine
    national = load_national(engine_settings.national_index, engine_settings.national_aliases)
    html = admin.get("/admin/danh-muc").get_data(as_text=True)
    assert "Chỉ mục thủ tục quốc gia" in html and f"{len(national.records)} thủ tục" in html
    assert national.source_date.strftime("%d/%m/%Y") in html
    found = admin.get("/admin/danh-muc?q=tach ho khau").get_data(as_text=True)  # an alias typed without diacritics
    record = national.get("1.010038")
    assert "1.010038" in found and record.name in found and record.authority in found and f'href="{record.url}"' in found
    assert "Không có thủ tục nào khớp" in admin.get("/admin/danh-muc?q=xyzzy").get_data(as_text=True)
    hostile = admin.get("/admin/danh-muc?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert" not in hostile and "&lt;script&gt;" in hostile
    # A broken aliases file: the page says so, and the lint report shows where.
    broken = tmp_path / "aliases.yaml"
    broken.write_text('entries:\n  - code: "9.999999"\n', encoding="utf-8")
    admin_app.config["SETTINGS"] = replace(admin_app.config["SETTINGS"],
                                           engine=replace(engine_settings, national_aliases=broken))
    html = admin.get("/admin/danh-muc?q=tach ho").get_data(as_text=True)
    assert "Không nạp được chỉ mục quốc gia" in html and f"{broken}:2:5: code 9.999999 is not in the national index" in html


def test_taught_phrasings_are_listed_removed_and_put_back(admin, admin_app, admin_settings, db):
    from bot.state import MemoryStateStore

    text = "đứa nhỏ mới đẻ thì ra xã lấy cái giấy gì trước tiên"
    assert post(admin, "/admin/danh-muc/khai-sinh", {"text": text}).status_code == 302
    page = admin.get("/admin/danh-muc/khai-sinh").get_data(as_text=True)
    assert "Câu tổ công nghệ số đã dạy (1)" in page and text in page
    assert post(admin, "/admin/danh-muc/khai-sinh/xoa-cau", {"phrasing": text}).status_code == 302
    catalog = load_catalog(admin_settings.engine.catalog_path, admin_settings.engine.intents_dir)
    assert text not in catalog.entries["khai-sinh"].questions
    with admin_app.app_context():
        assert engine_holder().get().respond("p", text, MemoryStateStore()).score != 1.0  # no longer taught
    with db.session() as s:
        removal = s.scalars(select(AuditLog).where(AuditLog.action == "catalog.phrasing_removed")).one()
        assert removal.username == "lan" and removal.detail["removed"] == [text]
    page = admin.get("/admin/danh-muc/khai-sinh").get_data(as_text=True)
    assert "Câu đã xoá gần đây" in page and text in page
    assert post(admin, "/admin/danh-muc/khai-sinh/khoi-phuc-cau", {"phrasing": text}).status_code == 302
    catalog = load_catalog(admin_settings.engine.catalog_path, admin_settings.engine.intents_dir)
    assert text in catalog.entries["khai-sinh"].questions


def test_adding_to_the_emergency_entry_asks_for_confirmation(admin, admin_settings):
    emergency = admin_settings.engine.intents_dir / "khan-cap.yaml"
    before = emergency.read_bytes()
    unconfirmed = post(admin, "/admin/danh-muc/khan-cap", {"text": "ông ấy lên cơn co rút"})
    assert unconfirmed.status_code == 400 and "xác nhận" in unconfirmed.get_data(as_text=True)
    assert emergency.read_bytes() == before
    assert post(admin, "/admin/danh-muc/khan-cap", {"text": "ông ấy lên cơn co rút", "confirm": "y"}).status_code == 302
