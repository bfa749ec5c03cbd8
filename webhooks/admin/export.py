"""Page 7 (admins): CSV of the questions asked in a date range, citizens pseudonymised."""
from __future__ import annotations

import csv
import io
from typing import Iterator

from flask import Response, current_app, render_template, request, stream_with_context
from flask_login import current_user
from sqlalchemy import select

from webhooks.admin.scoping import Scope, scope, within
from webhooks.admin.blueprint import bp
from webhooks.admin.accounts import audit
from webhooks.admin.auth import role_required
from webhooks.admin.common import engine, local, outcome_label
from webhooks.admin.forms import PeriodForm
from webhooks.admin.replying import pseudonym
from webhooks.admin.stats import utc_bounds
from webhooks.admin.views_stats import period_from
from webhooks.storage.engine import get_db, get_session
from webhooks.storage.models import Citizen, Message

HEADER = ("Thời gian", "Mã người dân", "Câu hỏi", "Mã mục", "Mục bot nhận ra", "Kết quả", "Cần xem", "Độ tin cậy")
REVIEW_LABELS = {"wrong_answer": "Người dân báo trả lời sai", "unsure": "Bot chưa chắc"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str) -> str:
    """Citizen text made inert for spreadsheets (no formula injection)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def score_text(score: float | None) -> str:
    """A score written the Vietnamese way (decimal comma), empty when there is none."""
    return "" if score is None else f"{score:.3f}".replace(".", ",")


def rows(session, start, end, secret: str, titles: dict[str, str] | None = None,
         scope: Scope | None = None) -> Iterator[str]:
    """CSV lines (header first) of inbound questions between local dates start and end, in Vietnamese."""
    titles = titles or {}
    lo, hi = utc_bounds(start, end)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    query = (select(Message.created_at, Citizen.zalo_id, Message.text, Message.intent, Message.outcome,
                    Message.review, Message.score)
             .join(Citizen, Citizen.id == Message.citizen_id)
             .where(Message.direction == "in", Message.created_at >= lo, Message.created_at < hi,
                    Message.outcome.is_distinct_from("ignored"), within(Message.citizen_id, scope))
             .order_by(Message.created_at, Message.id))
    for n, (created_at, zalo_id, text, intent, outcome, review, score) in enumerate(session.execute(query), 1):
        writer.writerow((local(created_at).strftime("%d/%m/%Y %H:%M:%S"), pseudonym(zalo_id, secret),
                         cell(text or ""), intent or "", titles.get(intent or "", ""), outcome_label(outcome),
                         REVIEW_LABELS.get(review or "", ""), score_text(score)))
        if n % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@bp.get("/xuat-csv")
@role_required("admin")
def export():
    """The export form; with ?start=…&end=…&download=1 the CSV itself."""
    form = PeriodForm(formdata=request.args)
    if "download" not in request.args or not form.validate():
        status = 400 if "download" in request.args else 200
        return render_template("admin/export.html", title="Xuất CSV", form=form), status
    start, end = period_from(form)
    db = get_session()
    audit(db, current_user.username, "export.csv", start=start.isoformat(), end=end.isoformat())
    db.commit()
    secret = current_app.config["SECRET_KEY"]
    titles = {i: e.title for i, e in engine().catalog.entries.items()}
    session = get_db().sessions()
    member = scope()  # read now: the generator runs after the request's context is gone

    def generate() -> Iterator[str]:
        try:
            yield "\ufeff"  # BOM: spreadsheet programs then read Vietnamese as UTF-8
            yield from rows(session, start, end, secret, titles, member)
        finally:
            session.close()

    name = f"cau-hoi_{start:%d-%m-%Y}_{end:%d-%m-%Y}.csv"
    return Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})

