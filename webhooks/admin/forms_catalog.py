"""Forms for editing the catalog from the dashboard: an entry's fields, a new entry, a reason to refuse a draft.

They check each field the way the catalog's schema (and so `python -m bot lint`) does, in Vietnamese, before
the change is also loaded on a copy of the catalog.
"""
from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from bot.catalog_entries import LIST_FIELDS
from webhooks.admin.forms import ChoiceField, choices

MIN_QUESTIONS = 6  # bot.schema: an entry needs at least six phrasings to be matched reliably
ONLINE = (("toàn trình", "Toàn trình (làm hết trên mạng)"), ("một phần", "Một phần (có bước phải đến)"),
          ("không", "Không làm trực tuyến"))
KINDS = (("faq", "Hỏi đáp (một câu trả lời)"), ("procedure", "Thủ tục (giấy tờ, các bước, phí, thời hạn)"))
# Which fields each kind of entry has (bot.schema), and which of them must not be empty.
KIND_FIELDS = {
    "procedure": ("title", "summary", "authority", "where", "documents", "steps", "fee", "processing_time",
                  "online", "link", "sources", "questions"),
    "faq": ("title", "summary", "answer", "steps", "link", "sources", "questions"),
    "intent": ("title", "answer", "sources", "questions"),
}
REQUIRED = {
    "procedure": {"title", "summary", "authority", "documents", "steps", "fee", "processing_time", "online", "link",
                  "questions"},
    "faq": {"title", "summary", "answer", "questions"},
    "intent": {"title", "answer", "questions"},
}
_URL = re.compile(r"^https?://\S+$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
LONG = Length(max=4000, message="Tối đa 4.000 ký tự.")


def lines(text: str | None) -> list[str]:
    """A textarea's non-empty lines, spaces tidied (one list item per line)."""
    return [" ".join(line.split()) for line in (text or "").splitlines() if line.strip()]


class EntryForm(FlaskForm):
    """An entry's editable fields; list fields are one item per line."""

    title = StringField("Tên mục", validators=[Optional(), Length(max=200)])
    summary = TextAreaField("Tóm tắt (một, hai câu)", validators=[Optional(), LONG])
    answer = TextAreaField("Câu trả lời", validators=[Optional(), LONG])
    authority = StringField("Cơ quan giải quyết", validators=[Optional(), Length(max=500)])
    where = TextAreaField("Nơi nộp hồ sơ", validators=[Optional(), LONG])
    documents = TextAreaField("Giấy tờ cần có (mỗi dòng một loại)", validators=[Optional(), LONG])
    steps = TextAreaField("Các bước (mỗi dòng một bước)", validators=[Optional(), LONG])
    fee = TextAreaField("Lệ phí", validators=[Optional(), Length(max=1000)])
    processing_time = TextAreaField("Thời hạn giải quyết", validators=[Optional(), Length(max=1000)])
    online = ChoiceField("Làm trực tuyến", choices=choices(ONLINE), validators=[Optional()])
    link = StringField("Trang của thủ tục trên Cổng Dịch vụ công", validators=[Optional(), Length(max=500)])
    sources = TextAreaField("Nguồn (văn bản, trang web; mỗi dòng một nguồn)", validators=[Optional(), LONG])
    questions = TextAreaField("Câu hỏi mẫu của người dân (mỗi dòng một câu)", validators=[Optional(),
                                                                                      Length(max=20000)])

    kind = "faq"  # set by the view before validating: which fields apply

    def for_kind(self, kind: str) -> "EntryForm":
        """Keep only the fields entries of this kind have."""
        self.kind = kind
        for name in set(KIND_FIELDS["procedure"]) | set(KIND_FIELDS["faq"]) | set(KIND_FIELDS["intent"]):
            if name not in KIND_FIELDS[kind]:
                delattr(self, name)
        return self

    def fill(self, values: dict[str, Any]) -> None:
        """Show an entry's current values (lists one item per line)."""
        for name in KIND_FIELDS[self.kind]:
            value = values.get(name)
            getattr(self, name).data = "\n".join(value or []) if name in LIST_FIELDS else (value or "")

    def values(self) -> dict[str, Any]:
        """The submitted fields as the catalog writes them (lists from lines, text trimmed)."""
        out: dict[str, Any] = {}
        for name in KIND_FIELDS[self.kind]:
            raw = getattr(self, name).data
            out[name] = lines(raw) if name in LIST_FIELDS else " ".join(str(raw or "").split())
        return out

    def validate(self, extra_validators: Any = None) -> bool:
        """Each field's own checks, then the schema's rules for this kind (required, link, six phrasings)."""
        ok = super().validate(extra_validators)
        values = self.values()
        for name in REQUIRED[self.kind]:
            if not values.get(name):
                getattr(self, name).errors.append("Mục này không được để trống.")
                ok = False
        if values.get("link") and not _URL.match(values["link"]):
            self.link.errors.append("Địa chỉ phải bắt đầu bằng https:// (hoặc http://) và không có dấu cách.")
            ok = False
        if values.get("questions") and len(values["questions"]) < MIN_QUESTIONS:
            self.questions.errors.append(f"Cần ít nhất {MIN_QUESTIONS} câu hỏi mẫu (hiện có "
                                         f"{len(values['questions'])}): thêm các cách hỏi khác của người dân.")
            ok = False
        return ok


class NewEntryForm(EntryForm):
    """A new entry: its code, then the fields of its kind (chosen by the page's address)."""

    entry_id = StringField("Mã mục (chữ thường không dấu, nối bằng gạch ngang, ví dụ: tro-cap-lu-lut)",
                           validators=[Optional(), Length(max=64)])

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' checks plus a well-formed code."""
        ok = super().validate(extra_validators)
        code = (self.entry_id.data or "").strip()
        if not _SLUG.match(code):
            self.entry_id.errors.append("Mã chỉ gồm chữ thường không dấu, số và dấu gạch ngang, ví dụ: tro-cap-lu-lut.")
            ok = False
        return ok


class RejectForm(FlaskForm):
    """Why an admin sends a draft back."""

    reason = TextAreaField("Lý do (người soạn sẽ thấy)", validators=[Optional(), Length(max=1000)])

