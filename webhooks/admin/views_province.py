"""The province view: each commune's figures side by side, the questions unanswered across communes, and
the commune picker in the header."""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, redirect, render_template, request, session as cookie, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from webhooks.admin.blueprint import bp
from webhooks.admin.clusters import build_clusters
from webhooks.admin.common import PERIODS, period_days, settings, since
from webhooks.admin.forms import ActionForm
from webhooks.admin.scoping import CHOSEN, member_scope
from webhooks.storage.engine import get_session
from webhooks.storage.models import Citizen, Commune, Handoff, Message, User

SHOWN = 30  # shared unanswered questions listed


@dataclass
class Row:
    """One commune's figures over the period."""

    commune_id: int | None
    name: str
    questions: int = 0
    answered: int = 0  # by the bot alone (no wrong-answer report)
    wrong: int = 0
    waiting: int = 0  # open hand-overs waiting for staff
    oldest_review: dt.date | None = None
    stale: int = 0
    outcomes: Counter = field(default_factory=Counter)

    @property
    def answered_share(self) -> str:
        """Share of questions the bot answered without staff, as a Vietnamese percentage."""
        return f"{100 * self.answered / self.questions:.0f}%".replace(".", ",") if self.questions else "—"


def _catalog_age(row: Row, communes: Any, slug: str | None, today: dt.date) -> None:
    try:
        engine = communes.engines.for_commune(slug) if slug else communes.engines.get()
    except Exception:  # a broken layer: the figures still show, the age does not
        return
    dates = [e.reviewed for e in engine.catalog.entries.values()]
    known = [d for d in dates if d is not None]
    row.oldest_review = min(known) if known else None
    row.stale = sum(1 for d in dates if d is None or (today - d).days > 365)


def figures(db: Any, start: dt.datetime | None, communes: Any) -> list[Row]:
    """Per-commune figures (the environment's commune first, when it has citizens or no commune exists)."""
    names = db.execute(select(Commune.id, Commune.slug, Commune.name).order_by(Commune.name)).all()
    rows = {None: Row(None, communes.name_of(None))}
    slugs: dict[int | None, str | None] = {None: None}
    for cid, slug, name in names:
        rows[cid], slugs[cid] = Row(cid, name), slug
    query = (select(Citizen.commune_id, Message.outcome, Message.review, func.count())
             .select_from(Message).join(Citizen, Citizen.id == Message.citizen_id).where(Message.direction == "in")
             .group_by(Citizen.commune_id, Message.outcome, Message.review))
    if start is not None:
        query = query.where(Message.created_at >= start)
    for cid, outcome, review, count in db.execute(query):
        row = rows.setdefault(cid, Row(cid, communes.name_of(cid)))
        if outcome in ("ignored", "system", "staff"):
            continue
        row.questions += count
        row.wrong += count if review == "wrong_answer" or outcome == "wrong_answer" else 0
        row.answered += count if outcome == "answered" and review != "wrong_answer" else 0
    for cid, count in db.execute(select(Citizen.commune_id, func.count()).select_from(Handoff)
                                 .join(Citizen, Citizen.id == Handoff.citizen_id)
                                 .where(Handoff.closed_at.is_(None), Handoff.state.is_distinct_from("waiting"))
                                 .group_by(Citizen.commune_id)):
        rows.setdefault(cid, Row(cid, communes.name_of(cid))).waiting += count
    today = dt.date.today()
    for cid, row in rows.items():
        _catalog_age(row, communes, slugs.get(cid), today)
    env = rows.pop(None)
    return ([env] if env.questions or env.waiting or not names else []) + list(rows.values())


def shared_questions(db: Any, start: dt.datetime | None) -> list[dict[str, Any]]:
    """Unanswered clusters asked in more than one commune first: a shared entry fixes them once."""
    clusters = build_clusters(db, settings().engine.thresholds, start)
    communes_of = dict(db.execute(select(Citizen.id, Citizen.commune_id)
                                  .where(Citizen.id.in_({c for k in clusters for c in k.citizen_ids}))).all())
    found = []
    for cluster in clusters:
        per: dict[int | None, int] = defaultdict(int)
        for citizen_id in cluster.citizen_ids:
            per[communes_of.get(citizen_id)] += 1
        found.append({"cluster": cluster, "communes": len(per), "per": dict(per)})
    found.sort(key=lambda f: (-f["communes"], -f["cluster"].count))
    return found[:SHOWN]


@bp.get("/tinh")
@login_required
def province():
    """Province admins: every commune's figures side by side and the questions unanswered across communes."""
    if not current_user.scope.province_admin:
        abort(403)
    db = get_session()
    days = period_days(request.args.get("days"))
    communes = current_app.extensions["bot.services"].communes
    rows = figures(db, since(days), communes)
    names = {r.commune_id: r.name for r in rows}
    return render_template("admin/province.html", title="Toàn tỉnh", rows=rows, days=days, periods=PERIODS,
                           shared=shared_questions(db, since(days)), names=names)


@bp.post("/xa")
@login_required
def choose_commune():
    """Pick the commune the dashboard shows ("*": every commune, for province admins)."""
    form = ActionForm()
    if not form.validate():
        abort(400)
    raw = request.form.get("commune", "")
    user = get_session().get(User, current_user.db_id)
    allowed = {"" if cid is None else str(cid) for cid, _ in member_scope(get_session(), user).choices}
    if raw == "*" and user.province_admin:
        cookie.pop(CHOSEN, None)
    elif raw in allowed:
        cookie[CHOSEN] = raw
    else:
        abort(404)
    return redirect(url_for("admin.unanswered"))
