"""Forms of the hand-over inbox and of members' alert settings (each carries a CSRF token)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from webhooks.admin.forms import ChoiceField, MultiCheckboxField, choices
from webhooks.inbox.alerts import KINDS

ALERT_CHOICES = choices([("handoff", "Người dân cần gặp cán bộ"), ("emergency", "Tin khẩn cấp"),
                         ("wrong_answer", "Người dân báo bot trả lời sai")])
assert {c.value for c in ALERT_CHOICES} == set(KINDS)


class AlertSettingsForm(FlaskForm):
    """What a member receives, and where."""

    email = StringField("E-mail nhận thông báo", validators=[
        Optional(), Length(max=255), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Địa chỉ e-mail không hợp lệ.")])
    kinds = MultiCheckboxField("Báo cho tôi khi", choices=ALERT_CHOICES)
    by_email = BooleanField("Gửi qua e-mail")
    by_zalo = BooleanField("Gửi qua Zalo (tài khoản đã liên kết)")


class AssignForm(FlaskForm):
    """Give a hand-over to a member (admins), or take it (anyone: the member's own name)."""

    assignee = StringField("Giao cho", validators=[DataRequired("Chọn một cán bộ."), Length(max=64)])


class StateForm(FlaskForm):
    """Move a hand-over between open, waiting for the citizen and resolved."""

    state = ChoiceField("Trạng thái", choices=choices([("open", "Đang xử lý"), ("waiting", "Chờ người dân"),
                                                       ("resolved", "Đã xong")]))


class NoteForm(FlaskForm):
    """A private note (staff only)."""

    text = TextAreaField("Ghi chú nội bộ", validators=[
        DataRequired("Vui lòng nhập ghi chú."), Length(max=2000, message="Tối đa 2.000 ký tự.")])


class CannedSendForm(FlaskForm):
    """Send a canned reply as it is."""

    canned_id = IntegerField("Mẫu", validators=[DataRequired("Chọn một mẫu trả lời.")])


class CannedForm(FlaskForm):
    """Add or edit a canned reply (admins)."""

    canned_id = HiddenField()
    title = StringField("Tên mẫu", validators=[DataRequired("Vui lòng nhập tên mẫu."), Length(max=100)])
    text = TextAreaField("Nội dung", validators=[
        DataRequired("Vui lòng nhập nội dung."), Length(max=2000, message="Tối đa 2.000 ký tự.")])


class InboxSearchForm(FlaskForm):
    """Search hand-overs by words and dates (query string)."""

    class Meta:
        csrf = False  # GET forms change nothing

    q = StringField("Tìm", validators=[Optional(), Length(max=200)])
    start = DateField("Từ ngày", validators=[Optional()])
    end = DateField("Đến ngày", validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1)])

    def validate_end(self, field: DateField) -> None:
        """The range must not run backwards."""
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("Ngày kết thúc phải sau ngày bắt đầu.")


class ClusterReplyForm(FlaskForm):
    """One text for everyone who asked; per-person texts come as extra fields (cluster_replies.FIELD)."""

    key = HiddenField()
    text = TextAreaField("Nội dung chung", validators=[Optional(), Length(max=2000, message="Tối đa 2.000 ký tự.")])


class UndoForm(FlaskForm):
    """Undo one "Bỏ qua" decision."""

    mark_id = IntegerField(validators=[DataRequired()])
