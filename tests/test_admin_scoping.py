"""Staff scoped to communes: every /admin route, tried by a member of another commune, shows and touches nothing."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.test_admin_support import (PASSWORD, admin_app, admin_client, admin_settings, catalog_copy,  # noqa: F401
                                      login, post)
from webhooks.admin.accounts import create_user, set_membership
from webhooks.admin.replying import pseudonym
from webhooks.storage.models import (AuditLog, Citizen, Commune, Handoff, HandoffNote, Message, Outbox, StaffContact,
                                     User)

SLUGS = ("an-phu", "binh-minh", "cat-tien")


def marker(slug: str) -> str:
    """A word only that commune's citizens wrote (shown on pages, exported, clustered)."""
    return "qq" + slug.replace("-", "")


@pytest.fixture
def seeded(db, admin_app):
    """Three communes, each with a citizen, a question left unanswered, a wrong-answer report, an open
    hand-over with a note, a failed reply; accounts: `an` (admin of an-phu), `tinh` (province admin)."""
    now = dt.datetime.now(dt.timezone.utc)
    ids: dict[str, dict[str, int | str]] = {}
    with db.session() as s:
        for n, slug in enumerate(SLUGS, 1):
            commune = Commune(slug=slug, name=f"Xã {slug}", province="Tỉnh Thử", oa_id=f"oa-{slug}")
            s.add(commune)
            s.flush()
            citizen = Citizen(zalo_id=f"z-{slug}", commune_id=commune.id, last_interaction=now)
            s.add(citizen)
            s.flush()
            asked = Message(citizen_id=citizen.id, direction="in", text=f"hỏi {marker(slug)} chuyện đất đai",
                            normalized=f"hoi {marker(slug)} chuyen dat dai", outcome="fallback", score=0.1,
                            status="processed", candidates=[], created_at=now - dt.timedelta(minutes=n))
            wrong = Message(citizen_id=citizen.id, direction="in", text=f"sai rồi {marker(slug)}",
                            normalized=f"sai roi {marker(slug)}", outcome="answered", review="wrong_answer",
                            intent="khai-sinh", score=0.9, status="processed", created_at=now)
            out = Message(citizen_id=citizen.id, direction="out", text=f"trả lời {marker(slug)}", outcome="staff",
                          status="failed", sent_by="x", created_at=now)
            s.add_all([asked, wrong, out])
            s.flush()
            handoff = Handoff(citizen_id=citizen.id, opened_at=now)
            s.add(handoff)
            s.flush()
            s.add(HandoffNote(handoff_id=handoff.id, citizen_id=citizen.id, author="x", text=f"ghi chú {marker(slug)}"))
            box = Outbox(source_id=out.id, message_id=out.id, zalo_id=citizen.zalo_id, status="failed",
                         body={"kind": "text", "text": f"trả lời {marker(slug)}"}, last_error="lỗi thử")
            s.add(box)
            s.flush()
            ids[slug] = {"commune": commune.id, "citizen": citizen.id, "handoff": handoff.id, "outbox": box.id,
                         "key": f"hoi {marker(slug)} chuyen dat dai", "zalo": citizen.zalo_id}
        create_user(s, "an", PASSWORD, "admin", by="test", commune_id=ids["an-phu"]["commune"])
        create_user(s, "tinh", PASSWORD, "admin", by="test", province_admin=True)
    return ids


def _foreign(seeded: dict, app) -> list[str]:
    """What of binh-minh and cat-tien must never show to an-phu: their words and their citizens' pseudonyms."""
    secret = app.config["SECRET_KEY"]
    found = []
    for slug in SLUGS[1:]:
        # As the citizens and staff wrote them (a probe's own URL may carry the normalised key back).
        found += [f"{said} {marker(slug)}" for said in ("hỏi", "sai rồi", "trả lời", "ghi chú")]
        found.append(pseudonym(str(seeded[slug]["zalo"]), secret))
    return found


def _snapshot(db) -> tuple:
    """Everything an action could change on a citizen's side."""
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(Message)), s.scalar(select(func.count()).select_from(Outbox)),
                tuple(s.execute(select(Handoff.id, Handoff.closed_at, Handoff.state, Handoff.assignee)
                                .order_by(Handoff.id)).all()),
                s.scalar(select(func.count()).select_from(HandoffNote)),
                tuple(s.execute(select(Outbox.id, Outbox.status).order_by(Outbox.id)).all()))


B = "binh-minh"
# Every /admin route: how a member of an-phu tries it against binh-minh's data, and what must come back.
# ("get", path) pages: no foreign data in the body; ("post", path, form, statuses) actions: refused or
# harmless, nothing changed; paths are formatted with binh-minh's ids.
ROUTES = {
    "admin.static": ("get", "/admin/static/admin/admin.css"),
    "admin.login": ("get", "/admin/login"),
    "admin.logout": ("skip",),  # ends the session and shows no citizen: nothing to try
    "admin.home": ("get", "/admin/"),
    "admin.unanswered": ("get", "/admin/cau-hoi?days=0"),
    "admin.cluster": ("get404", "/admin/cau-hoi/nhom?days=0&key={key}"),
    "admin.attach": ("post", "/admin/cau-hoi/day-bot?days=0", {"key": "{key}", "entry_id": "khai-sinh"}, {404}),
    "admin.reply": ("post", "/admin/cau-hoi/tra-loi?days=0", {"key": "{key}", "text": "Chào bạn"}, {404}),
    "admin.mark": ("post", "/admin/cau-hoi/danh-dau?days=0", {"key": "{key}", "status": "ignored"}, {404}),
    "admin.unignore_cluster": ("post", "/admin/cau-hoi/hoan-tac-bo-qua", {"mark_id": "999"}, {302, 400, 404}),
    "admin.handoffs": ("get", "/admin/gap-can-bo"),
    "admin.handoff_counts": ("get", "/admin/gap-can-bo/dem"),
    "admin.handoff": ("get404", "/admin/gap-can-bo/{handoff}"),
    "admin.handoff_reply": ("post", "/admin/gap-can-bo/{handoff}/tra-loi", {"text": "Chào bạn"}, {404}),
    "admin.handoff_close": ("post", "/admin/gap-can-bo/{handoff}/dong", {}, {404}),
    "admin.handoff_assign": ("post", "/admin/gap-can-bo/{handoff}/giao", {"assignee": "an"}, {404}),
    "admin.handoff_state": ("post", "/admin/gap-can-bo/{handoff}/trang-thai", {"state": "xong"}, {404}),
    "admin.handoff_note": ("post", "/admin/gap-can-bo/{handoff}/ghi-chu", {"text": "ghi"}, {404}),
    "admin.handoff_canned": ("post", "/admin/gap-can-bo/{handoff}/mau", {"canned_id": "1"}, {404}),
    "admin.handoff_ask_info": ("post", "/admin/gap-can-bo/{handoff}/xin-so", {}, {404}),
    "admin.failed": ("get", "/admin/tin-gui-loi"),
    "admin.failed_resend": ("post", "/admin/tin-gui-loi/{outbox}/gui-lai", {}, {404}),
    "admin.stats": ("get", "/admin/thong-ke"),
    "admin.stats_week": ("get", "/admin/thong-ke/tuan"),
    "admin.export": ("get", "/admin/xuat-csv?start={today}&end={today}&download=1"),
    "admin.province": ("get403", "/admin/tinh"),
    "admin.choose_commune": ("post", "/admin/xa", {"commune": "{commune}"}, {404}),
    "admin.chat": ("get", "/admin/thu-bot"),
    "admin.chat_reset": ("post", "/admin/thu-bot/lam-lai", {}, {302}),
    "admin.alert_settings": ("get", "/admin/thong-bao"),
    "admin.alert_link_code": ("post", "/admin/thong-bao/ma-lien-ket", {}, {200, 302}),
    "admin.alert_unlink": ("post", "/admin/thong-bao/huy-lien-ket", {}, {200, 302}),
    "admin.canned_replies": ("get", "/admin/mau-tra-loi"),
    "admin.canned_delete": ("post", "/admin/mau-tra-loi/999/xoa", {}, {404}),
    "admin.catalog": ("get", "/admin/danh-muc"),
    "admin.catalog_entry": ("get403", "/admin/danh-muc/khai-sinh"),
    "admin.remove_phrasing": ("post", "/admin/danh-muc/khai-sinh/xoa-cau", {"phrasing": "x"}, {403}),
    "admin.restore_phrasing": ("post", "/admin/danh-muc/khai-sinh/khoi-phuc-cau", {"phrasing": "x"}, {403}),
    "admin.catalog_history": ("get", "/admin/lich-su-danh-muc"),
    "admin.catalog_rollback": ("post", "/admin/lich-su-danh-muc/1/khoi-phuc", {}, {403}),
    "admin.drafts": ("get", "/admin/ban-nhap"),
    "admin.draft": ("get404", "/admin/ban-nhap/1"),  # no draft: drafts name entries, not citizens
    "admin.draft_new": ("get", "/admin/ban-nhap/moi?days=0&key={key}"),
    "admin.draft_edit": ("get", "/admin/ban-nhap/sua/khai-sinh"),
    "admin.draft_publish": ("post", "/admin/ban-nhap/1/xuat-ban", {}, {403}),
    "admin.draft_reject": ("post", "/admin/ban-nhap/1/tu-choi", {"reason": "x"}, {403}),
    "admin.draft_retire": ("post", "/admin/ban-nhap/ngung/khai-sinh", {"reason": "x"}, {302, 400}),
    "admin.users": ("get403", "/admin/tai-khoan"),
    "admin.user_add": ("post", "/admin/tai-khoan", {"username": "moi", "role": "admin"}, {403}),
    "admin.user_change": ("post", "/admin/tai-khoan/tinh", {"action": "disable"}, {403}),
}


def test_every_admin_route_is_in_the_table(admin_app):
    rules = {r.endpoint for r in admin_app.url_map.iter_rules() if r.rule.startswith("/admin")}
    assert rules - set(ROUTES) == set(), "a dashboard route not covered by the scoping test"
    assert set(ROUTES) - rules == set(), "the table names a route that no longer exists"


def test_a_member_of_another_commune_sees_and_touches_nothing(seeded, admin_app, admin_client, db):
    login(admin_client, "an")
    foreign = _foreign(seeded, admin_app)
    values = {k: str(v) for k, v in seeded[B].items()}
    values["today"] = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().strftime("%Y-%m-%d")
    own = admin_client.get("/admin/cau-hoi?days=0").get_data(as_text=True)
    assert marker("an-phu") in own  # the control: the member does see their own commune
    assert marker("an-phu") in admin_client.get("/admin/tin-gui-loi").get_data(as_text=True)
    before = _snapshot(db)
    for endpoint, how in ROUTES.items():
        if how[0] == "skip":
            continue
        url = how[1].format(**values)
        if how[0] == "post":
            data = {k: v.format(**values) for k, v in how[2].items()}
            response = post(admin_client, url, data)
            assert response.status_code in how[3], (endpoint, response.status_code)
        else:
            response = admin_client.get(url)
            expected = {"get": {200, 302}, "get404": {404}, "get403": {403}}[how[0]]
            assert response.status_code in expected, (endpoint, response.status_code)
        body = response.get_data(as_text=True)
        leaked = [word for word in foreign if word in body]
        assert not leaked, (endpoint, leaked)
        assert _snapshot(db) == before, endpoint
    with db.session() as s:  # audit rows name the member's commune
        communes = set(s.scalars(select(AuditLog.commune_id).where(AuditLog.username == "an")))
    assert communes <= {seeded["an-phu"]["commune"]}


def test_the_member_acts_on_their_own_commune_and_the_audit_names_it(seeded, admin_app, admin_client, db):
    login(admin_client, "an")
    own = seeded["an-phu"]
    assert post(admin_client, f"/admin/gap-can-bo/{own['handoff']}/giao", {"assignee": "an"}).status_code == 302
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().strftime("%Y-%m-%d")
    csv = admin_client.get(f"/admin/xuat-csv?start={today}&end={today}&download=1").get_data(as_text=True)
    assert marker("an-phu") in csv and marker(B) not in csv
    week = admin_client.get("/admin/thong-ke/tuan").get_data(as_text=True)
    assert "Xã an-phu" in week  # the printed week names the member's commune
    with db.session() as s:
        row = s.scalars(select(AuditLog).where(AuditLog.action == "handoff.take")).one()
        assert row.commune_id == own["commune"]
        assert s.get(Handoff, own["handoff"]).assignee == "an"


def test_a_province_admin_sees_every_commune_and_the_province_view(seeded, admin_app, admin_client):
    login(admin_client, "tinh")
    listing = admin_client.get("/admin/cau-hoi?days=0").get_data(as_text=True)
    assert all(marker(slug) in listing for slug in SLUGS)
    page = admin_client.get("/admin/tinh?days=0")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert all(f"Xã {slug}" in text for slug in SLUGS) and "Câu hỏi chưa trả lời ở nhiều xã" in text
    # Picking one commune narrows every page to it.
    assert post(admin_client, "/admin/xa", {"commune": str(seeded[B]["commune"])}).status_code == 302
    narrowed = admin_client.get("/admin/cau-hoi?days=0").get_data(as_text=True)
    assert marker(B) in narrowed and marker("an-phu") not in narrowed
    assert post(admin_client, "/admin/xa", {"commune": "*"}).status_code == 302
    assert marker("cat-tien") in admin_client.get("/admin/cau-hoi?days=0").get_data(as_text=True)


def test_a_member_of_two_communes_picks_one_at_a_time(seeded, admin_client, db):
    with db.session() as s:
        create_user(s, "hai", PASSWORD, "reviewer", by="test", commune_id=seeded["an-phu"]["commune"])
        set_membership(s, "hai", seeded[B]["commune"], "reviewer", by="test")
    login(admin_client, "hai")
    first = admin_client.get("/admin/cau-hoi?days=0").get_data(as_text=True)
    assert marker("an-phu") in first and marker(B) not in first and 'id="commune-picker"' in first
    assert post(admin_client, "/admin/xa", {"commune": str(seeded[B]["commune"])}).status_code == 302
    second = admin_client.get("/admin/cau-hoi?days=0").get_data(as_text=True)
    assert marker(B) in second and marker("an-phu") not in second
    assert post(admin_client, "/admin/xa", {"commune": str(seeded["cat-tien"]["commune"])}).status_code == 404


def test_alerts_go_only_to_members_of_the_citizens_commune(seeded, db):
    from webhooks.inbox.alerts import recipients

    with db.session() as s:
        create_user(s, "binh", PASSWORD, "reviewer", by="test", commune_id=seeded[B]["commune"])
        for name in ("an", "binh", "tinh"):
            user_id = s.scalar(select(User.id).where(User.username == name))
            s.add(StaffContact(user_id=user_id, email=f"{name}@xa.test"))
    with db.engine.connect() as conn:
        told = {r.username for r in recipients(conn, "handoff", int(seeded[B]["citizen"]))}
    assert told == {"binh", "tinh"}


def test_accounts_made_before_memberships_keep_seeing_everything(db):
    from sqlalchemy import text

    from webhooks.storage import migrate

    migrate.downgrade(db, "0005_catalog")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username, password_hash, role, active, session_epoch, created_at) "
                          "VALUES ('cu', 'x', 'reviewer', :yes, 0, :now)"),
                     {"yes": True, "now": dt.datetime.now(dt.timezone.utc)})
    migrate.upgrade(db)
    with db.session() as s:
        assert s.scalar(select(User.province_admin).where(User.username == "cu")) is True


def test_memberships_from_the_command_line(seeded, db):
    from webhooks.admin import cli
    from webhooks.admin.accounts import AccountError
    from webhooks.storage.models import Membership

    cli.add_user(db, "ba", "reviewer", PASSWORD, commune="an-phu")
    cli.set_member(db, "ba", B, "admin")
    with pytest.raises(AccountError, match="Không có xã"):
        cli.set_member(db, "ba", "khong-co", "admin")
    with db.session() as s:
        user_id = s.scalar(select(User.id).where(User.username == "ba"))
        roles = dict(s.execute(select(Membership.commune_id, Membership.role)
                               .where(Membership.user_id == user_id)).all())
    assert roles == {seeded["an-phu"]["commune"]: "reviewer", seeded[B]["commune"]: "admin"}
    cli.set_member(db, "ba", B, None)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Membership).where(Membership.user_id == user_id)) == 1
