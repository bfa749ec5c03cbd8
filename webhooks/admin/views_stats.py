"""Page 4: statistics over a chosen period, drawn as inline SVG bars."""
from __future__ import annotations

import datetime as dt

from flask import render_template, request
from flask_login import login_required
from sqlalchemy import select

from webhooks.admin.blueprint import bp
from webhooks.admin.clusters import build_clusters
from webhooks.admin.common import VN, engine, settings
from webhooks.admin.forms import PeriodForm
from webhooks.admin.stats import OUTCOMES, collect, column_chart, row_chart, utc_bounds
from webhooks.storage.engine import get_session
from webhooks.storage.models import Message

DEFAULT_DAYS = 30
MAX_DAYS = 366


def period_from(form: PeriodForm, default_days: int = DEFAULT_DAYS) -> tuple[dt.date, dt.date]:
    """The form's range, or the last `default_days` local days; never longer than a year."""
    today = dt.datetime.now(VN).date()
    end = form.end.data or today
    start = form.start.data or end - dt.timedelta(days=default_days - 1)
    if start > end:
        start = end
    return max(start, end - dt.timedelta(days=MAX_DAYS - 1)), end


@bp.get("/thong-ke")
@login_required
def stats():
    """Questions per day, how they were handled, top procedures, top unanswered clusters."""
    form = PeriodForm(formdata=request.args)
    status = 200 if form.validate() else 400
    start, end = period_from(form) if status == 200 else period_from(PeriodForm(formdata=None))
    if status == 200:
        form.start.data, form.end.data = start, end  # show the range actually used
    db = get_session()
    data = collect(db, start, end)
    entries = engine().catalog.entries
    lo, hi = utc_bounds(start, end)
    unanswered = build_clusters(db, settings().engine.thresholds, since=lo, until=hi)[:10]
    days = column_chart([(d.strftime("%d/%m"), n) for d, n in data.per_day])
    shares = row_chart([(o, data.outcomes.get(o, 0)) for o in OUTCOMES], width=100)
    top = row_chart([(entries[i].title if i in entries else i, n) for i, n in data.top_entries], width=100)
    latest = {c.key: c.latest_ids(1)[0] for c in unanswered}
    texts = dict(db.execute(select(Message.id, Message.text).where(Message.id.in_(latest.values()))).all())
    gaps = row_chart([(texts.get(latest[c.key]) or c.key or "(không có chữ)", c.count) for c in unanswered],
                     width=100)
    return render_template("admin/stats.html", title="Thống kê", form=form, data=data, start=start, end=end,
                           days=days, shares=shares, top=top, gaps=gaps, unanswered=unanswered), status
