"""Flask-WTF forms of the dashboard (each carries a CSRF token); labels in Vietnamese."""
from __future__ import annotations

import datetime as dt

from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, HiddenField, PasswordField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, TextInput

from webhooks.admin.accounts import MIN_PASSWORD, ROLE_LABELS
from webhooks.admin.stats import VN

REQUIRED = "Vui lòng điền mục này."


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


ROLE_CHOICES = ROLE_LABELS.items()


class ChoiceField(SelectField):
    """A select whose wrong-value message is in Vietnamese."""

    def pre_validate(self, form: FlaskForm) -> None:
        """The value must be one of the choices."""
        if self.data not in {c.value for c in self.choices}:
            raise ValidationError("Lựa chọn không hợp lệ.")


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField("Tên đăng nhập", validators=[DataRequired(REQUIRED), Length(max=64)])
    password = PasswordField("Mật khẩu", validators=[DataRequired(REQUIRED), Length(max=256)])


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (friendlier on a phone than a multi-select)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: FlaskForm) -> None:
        """Only the offered phrasings may be chosen."""
        offered = {c.value if isinstance(c, SelectChoice) else c[0] for c in self.choices or []}
        if any(value not in offered for value in self.data or []):
            raise ValidationError("Câu đã chọn không thuộc nhóm này (có thể nhóm vừa thay đổi); hãy tải lại trang.")


class AttachForm(FlaskForm):
    """Teach the bot: add the chosen phrasings to a catalog entry."""

    key = HiddenField()  # may be "" (messages with no words form a cluster too)
    entry_id = StringField("Mã thủ tục / câu hỏi", validators=[DataRequired("Chọn một thủ tục."), Length(max=64)])
    phrasings = MultiCheckboxField("Các câu sẽ dạy cho bot", choices=[])
    confirm = BooleanField("Tôi xác nhận: các câu này là khẩn cấp / cần gặp cán bộ")

    def validate_phrasings(self, field: MultiCheckboxField) -> None:
        """At least one phrasing must be chosen."""
        if not [p for p in field.data or [] if p.strip()]:
            raise ValidationError("Chọn ít nhất một câu.")


class ReplyForm(FlaskForm):
    """A staff reply sent to citizens through Zalo."""

    key = HiddenField()
    text = TextAreaField("Nội dung trả lời", validators=[
        DataRequired("Vui lòng nhập nội dung trả lời."), Length(max=2000, message="Tối đa 2.000 ký tự.")])


class MarkForm(FlaskForm):
    """Mark a cluster resolved or ignored."""

    key = HiddenField()
    status = ChoiceField("Đánh dấu", choices=choices([("resolved", "Đã xử lý"), ("ignored", "Bỏ qua")]))


class ActionForm(FlaskForm):
    """A button with nothing but a CSRF token (close a handoff, reset the test chat, log out)."""


class ChatForm(FlaskForm):
    """One message to the bot in the test chat."""

    text = StringField("Tin nhắn", validators=[DataRequired("Vui lòng nhập câu hỏi."), Length(max=1000)])


MAX_DAYS = 366  # the longest period statistics and exports cover in one go
DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d"]  # shown and typed as dd/mm/yyyy; ISO accepted in links


class VNDateField(DateField):
    """A date typed and shown as dd/mm/yyyy (a browser's date picker would follow its own locale)."""

    widget = TextInput()

    def __init__(self, label: str, **kwargs):
        kwargs.setdefault("render_kw", {"placeholder": "ngày/tháng/năm", "inputmode": "numeric", "maxlength": 10})
        super().__init__(label, format=DATE_FORMATS, **kwargs)

    def _value(self) -> str:
        # A parsed date is shown dd/mm/yyyy whatever was typed; an unparsable one as typed, to correct it.
        return self.data.strftime(DATE_FORMATS[0]) if self.data else super()._value()

    def process_formdata(self, valuelist: list[str]) -> None:
        """Parse dd/mm/yyyy (or ISO); a wrong date gets a Vietnamese message."""
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError("Ngày không hợp lệ: ghi theo dạng ngày/tháng/năm, ví dụ 05/12/2026.") from exc


class PeriodForm(FlaskForm):
    """A date range (statistics, CSV export); read from the query string."""

    class Meta:
        csrf = False  # GET forms change nothing

    start = VNDateField("Từ ngày", validators=[Optional()])
    end = VNDateField("Đến ngày", validators=[Optional()])

    def validate_end(self, field: DateField) -> None:
        """The range must not run backwards, nor be longer than MAX_DAYS (refused, never silently cut)."""
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("Ngày kết thúc phải sau ngày bắt đầu.")
        end = field.data or dt.datetime.now(VN).date()
        if self.start.data and (end - self.start.data).days + 1 > MAX_DAYS:
            raise ValidationError(f"Khoảng thời gian dài {(end - self.start.data).days + 1} ngày; tối đa {MAX_DAYS} "
                                  "ngày (một năm). Hãy chọn khoảng ngắn hơn, hoặc xem, tải từng năm một.")


class PhrasingsForm(FlaskForm):
    """Add phrasings to an entry from the catalog page, one per line."""

    text = TextAreaField("Câu hỏi mới (mỗi dòng một câu)", validators=[
        DataRequired("Vui lòng nhập ít nhất một câu."), Length(max=5000)])
    confirm = BooleanField("Tôi xác nhận: các câu này là khẩn cấp / cần gặp cán bộ")


class NewUserForm(FlaskForm):
    """Create an account."""

    username = StringField("Tên đăng nhập", validators=[DataRequired(REQUIRED), Length(min=2, max=64)])
    role = ChoiceField("Vai trò", choices=choices(ROLE_CHOICES))
    password = PasswordField("Mật khẩu", validators=[
        DataRequired(REQUIRED), Length(min=MIN_PASSWORD, message=f"Ít nhất {MIN_PASSWORD} ký tự.")])
    confirm = PasswordField("Nhập lại mật khẩu", validators=[EqualTo("password", "Hai mật khẩu không khớp.")])


class UserChangeForm(FlaskForm):
    """Disable/enable an account, change its role or set a new password."""

    action = ChoiceField("Thao tác", choices=choices([
        ("disable", "Khoá"), ("enable", "Mở khoá"), ("role", "Đổi vai trò"), ("passwd", "Đặt mật khẩu mới")]))
    role = ChoiceField("Vai trò", choices=choices(ROLE_CHOICES), validators=[Optional()])
    password = PasswordField("Mật khẩu mới", validators=[Optional(), Length(
        min=MIN_PASSWORD, message=f"Ít nhất {MIN_PASSWORD} ký tự.")])
    confirm = BooleanField("Tôi chắc chắn")
