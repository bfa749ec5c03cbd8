"""Accounts page (admins): list, create, disable/enable, change role, set a new password."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from webhooks.admin.blueprint import bp
from webhooks.admin.accounts import ROLE_LABELS, AccountError, create_user, list_users, set_active, set_password, set_role
from webhooks.admin.auth import province_admin_required
from webhooks.admin.forms import NewUserForm, UserChangeForm
from webhooks.storage.engine import get_session


def _render(status: int = 200, new: NewUserForm | None = None, change: UserChangeForm | None = None,
            changed: str | None = None):
    return render_template("admin/users.html", title="Tài khoản", users=list_users(get_session()),
                           new=new or NewUserForm(), change=change, changed=changed,
                           change_form=UserChangeForm, roles=ROLE_LABELS), status


@bp.get("/tai-khoan")
@province_admin_required
def users():
    """All accounts."""
    return _render()


@bp.post("/tai-khoan")
@province_admin_required
def user_add():
    """Create an account."""
    form = NewUserForm()
    if not form.validate():
        return _render(400, new=form)
    db = get_session()
    try:
        create_user(db, form.username.data or "", form.password.data or "", form.role.data, by=current_user.username)
    except AccountError as exc:
        db.rollback()
        form.username.errors = [str(exc)]
        return _render(400, new=form)
    db.commit()
    flash(f"Đã tạo tài khoản {form.username.data.strip().lower()}.", "ok")
    return redirect(url_for("admin.users"))


@bp.post("/tai-khoan/<username>")
@province_admin_required
def user_change(username: str):
    """Disable/enable, change role, or set a new password for one account."""
    form = UserChangeForm()
    if form.validate() and not form.confirm.data:
        form.confirm.errors = ["Hãy đánh dấu “Tôi chắc chắn”."]
    if form.validate() and form.action.data == "passwd" and not form.password.data:
        form.password.errors = ["Vui lòng nhập mật khẩu mới."]
    if form.errors or not form.confirm.data or (form.action.data == "passwd" and not form.password.data):
        return _render(400, change=form, changed=username)
    if username == current_user.username and form.action.data in ("disable", "role"):
        form.action.errors = ["Không thể tự khoá hoặc tự đổi vai trò của chính mình."]
        return _render(400, change=form, changed=username)
    db = get_session()
    try:
        if form.action.data in ("disable", "enable"):
            set_active(db, username, form.action.data == "enable", by=current_user.username)
        elif form.action.data == "role":
            set_role(db, username, form.role.data, by=current_user.username)
        else:
            set_password(db, username, form.password.data or "", by=current_user.username)
    except AccountError as exc:
        db.rollback()
        form.action.errors = [str(exc)]
        return _render(400, change=form, changed=username)
    db.commit()
    flash(f"Đã cập nhật tài khoản {username}.", "ok")
    return redirect(url_for("admin.users"))
