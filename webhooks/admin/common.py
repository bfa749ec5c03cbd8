"""Helpers shared by the dashboard pages: local time, periods, pagination, the running engine."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Sequence

from flask import current_app
from flask_login import current_user

from webhooks.settings import Settings
from webhooks.admin.blueprint import bp, engine_holder
from webhooks.outbox.writing import as_utc

# Vietnam keeps UTC+7 all year (no daylight saving), so a fixed offset is exact.
VN = dt.timezone(dt.timedelta(hours=7), "ICT")
# Entries whose phrasings make the bot raise an alarm or hand a citizen to staff: admins teach them, knowingly.
SENSITIVE = {"khan-cap": "Khẩn cấp", "handoff": "Gặp cán bộ"}
PERIODS = ((7, "7 ngày"), (30, "30 ngày"), (90, "90 ngày"), (365, "1 năm"), (0, "Tất cả"))
OUTCOME_LABELS = {"answered": "Đã trả lời", "clarified": "Hỏi lại", "fallback": "Không hiểu",
                  "out_of_scope": "Ngoài phạm vi", "smalltalk": "Chào hỏi, cảm ơn", "wrong_answer": "Báo trả lời sai",
                  "handoff": "Gặp cán bộ", "waiting": "Đang chờ cán bộ", "emergency": "Khẩn cấp",
                  "staff": "Cán bộ trả lời", "system": "Hệ thống", "ignored": "Bỏ qua", "?": "Chưa xử lý"}


def settings() -> Settings:
    """The app's settings."""
    return current_app.config["SETTINGS"]


def engine() -> Any:
    """The running engine, reloaded first when the catalog files changed (looked at on every page)."""
    return engine_holder().get(fresh=True)


def local(moment: dt.datetime | None) -> dt.datetime | None:
    """`moment` in Vietnam time."""
    moment = as_utc(moment)
    return moment.astimezone(VN) if moment else None


@bp.app_template_filter("vn_time")
def vn_time(moment: dt.datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """Vietnamese-style local date and time."""
    moment = local(moment)
    return moment.strftime(fmt) if moment else "—"


@bp.app_template_filter("outcome_label")
def outcome_label(outcome: str | None) -> str:
    """Vietnamese name of an outcome."""
    return OUTCOME_LABELS.get(outcome or "?", outcome or "?")


@bp.app_context_processor
def _menu() -> dict[str, Any]:
    from webhooks.admin.auth import open_handoff_count
    from webhooks.admin.forms import ActionForm

    demo = {"demo_mode": settings().demo}
    if not current_user or not current_user.is_authenticated:
        return demo
    return {**demo, "open_handoffs": open_handoff_count(), "logout_form": ActionForm()}


def since(days: int, now: dt.datetime | None = None) -> dt.datetime | None:
    """Start of the last `days` days (None for all time)."""
    if days <= 0:
        return None
    return (now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=days)


def period_days(raw: str | None, default: int = 30) -> int:
    """A period from the query string, limited to the offered choices."""
    allowed = {d for d, _ in PERIODS}
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value in allowed else default


@dataclass(frozen=True)
class Page:
    """One page of a list."""

    items: Sequence[Any]
    number: int
    pages: int
    total: int


def paginate(items: Sequence[Any], raw_page: str | None, per_page: int = 20) -> Page:
    """Slice `items` to the requested page (clamped to the range)."""
    pages = max(1, math.ceil(len(items) / per_page))
    try:
        number = min(max(1, int(raw_page or 1)), pages)
    except ValueError:
        number = 1
    start = (number - 1) * per_page
    return Page(items[start:start + per_page], number, pages, len(items))
