"""Page 1–2: clusters of unanswered questions, and the actions on one cluster."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from bot.catalog_edit import CatalogEditError, add_phrasings
from bot.state import MemoryStateStore
from bot.text import fold
from webhooks.admin.scoping import scope
from webhooks.admin.blueprint import bp, engine_holder
from webhooks.admin.accounts import audit
from webhooks.admin.cluster_replies import askers, texts_per_person
from webhooks.admin.clusters import Cluster, build_clusters, find_cluster, mark_cluster, recent_ignored, unignore
from webhooks.admin.common import PERIODS, SENSITIVE, engine, paginate, period_days, settings, since
from webhooks.admin.forms import AttachForm, MarkForm, choices
from webhooks.admin.forms_staff import ClusterReplyForm, UndoForm
from webhooks.admin.teaching import record_taught
from webhooks.admin.replying import dispatch, pseudonym, send_staff_reply, summary
from webhooks.storage.engine import get_session
from webhooks.storage.models import Citizen, Message

MAX_PHRASINGS = 12
SEARCH_LIMIT = 8



def _clusters(days: int) -> list[Cluster]:
    return build_clusters(get_session(), settings().engine.thresholds, since(days), scope=scope())


def _details(cluster: Cluster, examples: int) -> dict[str, Any]:
    """Recent examples, distinct phrasings and the engine's averaged best guesses."""
    ids = cluster.latest_ids(max(examples, 50))
    rows = get_session().execute(select(Message.id, Message.text, Message.normalized, Message.created_at,
                                        Message.outcome, Message.candidates, Message.review, Message.report)
                                 .where(Message.id.in_(ids)).order_by(Message.created_at.desc())).all()
    entries = engine().catalog.entries
    totals: dict[str, float] = defaultdict(float)
    phrasings: dict[str, str] = {}
    for row in rows:
        for cand in row.candidates or []:
            if isinstance(cand, dict) and cand.get("id") in entries:
                totals[cand["id"]] += float(cand.get("score") or 0.0)
        if row.text.strip() and len(phrasings) < MAX_PHRASINGS:
            phrasings.setdefault(row.normalized or row.text, row.text.strip())
    # Only guesses the bot would at least have asked back with are offered for one tap; a weaker one is
    # no evidence, and a reviewer would teach it by habit.
    floor = settings().engine.thresholds.clarify
    guesses = [(entries[i], total / len(rows)) for i, total in sorted(totals.items(), key=lambda kv: -kv[1])[:3]
               if total / len(rows) >= floor]
    return {"cluster": cluster, "examples": rows[:examples], "phrasings": list(phrasings.values()),
            "guesses": guesses}


@bp.get("/cau-hoi")
@login_required
def unanswered():
    """Clusters of questions the bot could not answer well, biggest and most recent first."""
    days = period_days(request.args.get("days"))
    page = paginate(_clusters(days), request.args.get("page"))
    items = [_details(c, examples=3) for c in page.items]
    return render_template("admin/unanswered.html", title="Câu hỏi chưa được trả lời", page=page,
                           items=items, days=days, periods=PERIODS, ignored=recent_ignored(get_session()),
                           undo=UndoForm())


def _cluster_or_404(key: str, days: int) -> Cluster:
    cluster = find_cluster(_clusters(days), key)
    if cluster is None:
        abort(404)
    return cluster


def _search(query: str) -> list[Any]:
    """Catalog entries for a reviewer's search: titles containing the words first, then the engine's ranking."""
    if not query.strip():
        return []
    entries = engine().catalog.entries
    # A reviewer typing a title ("khan cap") means that entry, which the engine's ranking may leave out
    # (emergency phrasings are never ranked as candidates).
    needle = fold(query.strip())
    found = [e for e in entries.values() if needle in fold(e.title) or needle == e.id]
    found += [entries[c.id] for c in engine().rank(query, SEARCH_LIMIT) if c.id in entries and entries[c.id] not in found]
    return found[:SEARCH_LIMIT]


def _render_cluster(cluster: Cluster, days: int, status: int = 200, **forms: Any):
    data = _details(cluster, examples=20)
    people = askers(get_session(), cluster, pseudonym)
    attach = forms.get("attach") or AttachForm(key=cluster.key)
    attach.phrasings.choices = choices((p, p) for p in data["phrasings"])
    if not attach.is_submitted():
        attach.phrasings.data = data["phrasings"]
    query = request.args.get("q", "")
    return render_template(
        "admin/cluster.html", title="Nhóm câu hỏi", days=days, people=people, query=query,
        results=_search(query), attach=attach, reply=forms.get("reply") or ClusterReplyForm(key=cluster.key),
        own=forms.get("own") or {},
        mark=forms.get("mark") or MarkForm(key=cluster.key), sensitive=SENSITIVE,
        confirming=forms.get("confirming"), entries=engine().catalog.entries, **data), status


@bp.get("/cau-hoi/nhom")
@login_required
def cluster():
    """One cluster: examples, best guesses, citizens who asked, and what to do with it."""
    days = period_days(request.args.get("days"))
    return _render_cluster(_cluster_or_404(request.args.get("key", ""), days), days)


@bp.post("/cau-hoi/day-bot")
@login_required
def attach():
    """Teach the bot: add the cluster's phrasings to a catalog entry and reload at once."""
    days = period_days(request.args.get("days"))
    form = AttachForm()
    found = _cluster_or_404(form.key.data or "", days)
    form.phrasings.choices = choices((p, p) for p in _details(found, examples=0)["phrasings"])
    if not form.validate():
        return _render_cluster(found, days, 400, attach=form)
    entry_id = (form.entry_id.data or "").strip()
    if entry_id in SENSITIVE:
        if not current_user.is_admin:
            form.entry_id.errors = [f"Chỉ quản trị viên mới được dạy câu vào mục “{SENSITIVE[entry_id]}”."]
            return _render_cluster(found, days, 403, attach=form)
        if not form.confirm.data:
            form.entry_id.errors = [f"Dạy các câu này vào “{SENSITIVE[entry_id]}” sẽ làm bot trả lời chúng như vậy "
                                    "ngay lập tức. Đánh dấu ô xác nhận rồi bấm lại."]
            return _render_cluster(found, days, 400, attach=form, confirming=entry_id)
    conf = settings()
    try:
        result = add_phrasings(conf.engine.catalog_path, conf.engine.intents_dir, entry_id, form.phrasings.data)
    except CatalogEditError as exc:
        form.entry_id.errors = [str(exc), *exc.problems[:5]]
        return _render_cluster(found, days, 400, attach=form)
    engine_holder().reload()
    db = get_session()
    mark_cluster(db, found, "attached", current_user.username, entry_id=entry_id)
    record_taught(db, [r[0] for r in found.rows], entry_id, result.added)
    audit(db, current_user.username, "catalog.phrasings", entry=entry_id, added=list(result.added),
          file=result.path.name, backup=result.backup.name)
    db.commit()
    title = engine().catalog.entries[entry_id].title
    flash(f"Đã dạy bot {len(result.added)} câu cho “{title}”. Bot đã cập nhật ngay.", "ok")
    for text in _still_unsure(entry_id, result.added):
        flash(f"Bot vẫn chưa trả lời chắc chắn câu “{text}”; hãy thử trong “Thử bot” và báo quản trị viên.", "warn")
    return redirect(url_for("admin.unanswered", days=days))


def _still_unsure(entry_id: str, phrasings: tuple[str, ...]) -> list[str]:
    """Taught phrasings the reloaded engine still does not answer with `entry_id` (told to the reviewer)."""
    running = engine()
    return [text for text in phrasings
            if (turn := running.respond("admin:check", text, MemoryStateStore())).outcome != "answered"
            or turn.intent != entry_id]


@bp.post("/cau-hoi/tra-loi")
@login_required
def reply():
    """Reply through Zalo to everyone who asked (inside the 7-day window): one text, or edited per person."""
    days = period_days(request.args.get("days"))
    form = ClusterReplyForm()
    found = _cluster_or_404(form.key.data or "", days)
    texts, problems = texts_per_person(request.form, found.citizen_ids, form.text.data or "")
    if not form.validate() or problems:
        form.text.errors = [*form.text.errors, *problems]
        own = {key: value for key, value in request.form.items() if key.startswith("rieng-")}
        return _render_cluster(found, days, 400, reply=form, own=own)
    db = get_session()
    deliveries = []
    for citizen in db.scalars(select(Citizen).where(Citizen.id.in_(found.citizen_ids))):
        deliveries += send_staff_reply(db, [citizen], texts[citizen.id], current_user.username)
    common = (form.text.data or "").strip()
    audit(db, current_user.username, "cluster.reply", key=found.key, sent=sum(d.queued for d in deliveries),
          own=sum(text != common for text in texts.values()),
          skipped=sum(not d.queued for d in deliveries))  # a count: the audit names no citizen
    db.commit()
    dispatch(deliveries)
    headline, missed = summary(deliveries)
    flash(headline, "ok" if not missed else "warn")
    for line in missed:
        flash(line, "warn")
    return redirect(url_for("admin.cluster", key=found.key, days=days))


@bp.post("/cau-hoi/danh-dau")
@login_required
def mark():
    """Mark a cluster resolved (hidden until asked again) or ignored (hidden for good)."""
    days = period_days(request.args.get("days"))
    form = MarkForm()
    found = _cluster_or_404(form.key.data or "", days)
    if not form.validate():
        return _render_cluster(found, days, 400, mark=form)
    db = get_session()
    mark_cluster(db, found, form.status.data, current_user.username)
    audit(db, current_user.username, f"cluster.{form.status.data}", key=found.key, keys=found.keys[:20])
    db.commit()
    flash("Đã bỏ qua nhóm câu hỏi này." if form.status.data == "ignored" else "Đã đánh dấu là đã xử lý.", "ok")
    return redirect(url_for("admin.unanswered", days=days))


@bp.post("/cau-hoi/hoan-tac-bo-qua")
@login_required
def unignore_cluster():
    """Undo a "Bỏ qua": the questions it hid are listed again."""
    days = period_days(request.args.get("days"))
    form = UndoForm()
    db = get_session()
    keys = unignore(db, form.mark_id.data) if form.validate() else []
    if not keys:
        flash("Không tìm thấy quyết định bỏ qua này (có thể đã được hoàn tác).", "warn")
        return redirect(url_for("admin.unanswered", days=days)), 400
    audit(db, current_user.username, "cluster.unignore", keys=keys[:20])
    db.commit()
    flash("Đã hoàn tác “Bỏ qua”: nhóm câu hỏi hiện lại trong danh sách.", "ok")
    return redirect(url_for("admin.unanswered", days=days))
