"""Page 4: statistics over a chosen period (inline SVG bars, per week, per entry) and a printable weekly summary."""
from __future__ import annotations

import datetime as dt

from flask import current_app, render_template, request
from flask_login import login_required
from flask_wtf import FlaskForm

from webhooks.admin.scoping import scope
from webhooks.admin.blueprint import bp
from webhooks.admin.common import VN, engine, settings
from webhooks.admin.forms import PeriodForm, VNDateField
from webhooks.admin.stats import OUTCOMES, collect, column_chart, grouped, row_chart
from webhooks.admin.stats_summary import duration, monday, most_unanswered, summarize
from webhooks.storage.engine import get_session

DEFAULT_DAYS = 30
ENTRIES_SHOWN = 15
# Messages sent while staff hold the conversation, and the request itself, are not "how the bot handled"
# a question: hand-over requests are counted from the hand-overs opened.
HANDOFF_OUTCOMES = ("handoff", "waiting")


def period_from(form: PeriodForm, default_days: int = DEFAULT_DAYS) -> tuple[dt.date, dt.date]:
    """The form's range (already validated: at most a year), or the last `default_days` local days."""
    today = dt.datetime.now(VN).date()
    end = form.end.data or today
    start = form.start.data or end - dt.timedelta(days=default_days - 1)
    return min(start, end), end


def _gaps(db, start: dt.date, end: dt.date, top: int) -> list[tuple[str, int]]:
    return most_unanswered(db, settings().engine.thresholds, start, end, top, scope())


def _commune_name() -> str:
    """The commune the page is about: the member's current one, or the province's catalog name for all."""
    current = scope()
    if current.everything or not current.multi:
        return engine().catalog.commune.name
    return current_app.extensions["bot.services"].communes.name_of(current.current)


@bp.get("/thong-ke")
@login_required
def stats():
    """Headline figures, questions per day, how the bot handled them, per week, per entry, unanswered clusters."""
    form = PeriodForm(formdata=request.args)
    status = 200 if form.validate() else 400
    start, end = period_from(form) if status == 200 else period_from(PeriodForm(formdata=None))
    if status == 200:
        form.start.data, form.end.data = start, end  # show the range actually used
    db = get_session()
    rows = grouped(db, start, end, scope())
    data = collect(db, start, end, rows=rows)
    summary = summarize(db, start, end, rows=rows, scope=scope())
    entries = engine().catalog.entries
    days = column_chart([(d.strftime("%d/%m/%Y"), n) for d, n in data.per_day])
    shares = row_chart([(o, data.outcomes.get(o, 0)) for o in OUTCOMES if o not in HANDOFF_OUTCOMES], width=100)
    during = sum(data.outcomes.get(o, 0) for o in HANDOFF_OUTCOMES)
    top = row_chart([(entries[i].title if i in entries else i, n) for i, n in data.top_entries], width=100)
    gaps = row_chart(_gaps(db, start, end, 10), width=100)
    titles = {i: e.title for i, e in entries.items()}
    return render_template("admin/stats.html", title="Thống kê", form=form, data=data, start=start, end=end,
                           days=days, shares=shares, top=top, gaps=gaps, summary=summary, during=during,
                           titles=titles, per_entry=summary.entries[:ENTRIES_SHOWN], duration=duration), status


class WeekForm(FlaskForm):
    """Any day of the week to summarise (read from the query string)."""

    class Meta:
        csrf = False

    day = VNDateField("Ngày trong tuần")


@bp.get("/thong-ke/tuan")
@login_required
def stats_week():
    """One week on one page, to print for the commune chair: figures beside last week's, top entries, gaps."""
    form = WeekForm(formdata=request.args)
    status = 200 if form.validate() else 400
    today = dt.datetime.now(VN).date()
    first = monday(form.day.data if status == 200 and form.day.data else today - dt.timedelta(days=7))
    last = first + dt.timedelta(days=6)
    form.day.data = first
    db = get_session()
    week = summarize(db, first, last, scope=scope())
    before = summarize(db, first - dt.timedelta(days=7), first - dt.timedelta(days=1), scope=scope())
    entries = engine().catalog.entries
    top = [(entries[i].title if i in entries else i, n, w) for i, n, w in week.entries[:5]]
    return render_template("admin/stats_week.html", title="Tóm tắt tuần", form=form, first=first, last=last,
                           week=week.total, before=before.total, top=top, gaps=_gaps(db, first, last, 5),
                           commune=_commune_name(), duration=duration, today=today), status
