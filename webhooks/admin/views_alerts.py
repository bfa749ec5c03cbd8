"""Each member's alerts: e-mail, a linked Zalo account, which alerts; and the waiting count the menu polls."""
from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select, update

from webhooks.admin.scoping import citizens_visible
from webhooks.admin.accounts import audit
from webhooks.admin.blueprint import bp
from webhooks.admin.forms import ActionForm
from webhooks.admin.forms_staff import ALERT_CHOICES, AlertSettingsForm
from webhooks.inbox.staff_link import CODE_LIFETIME, ensure_contact, new_code
from webhooks.storage.engine import get_session
from webhooks.storage.models import Handoff, StaffContact


def _contact() -> StaffContact:
    db = get_session()
    ensure_contact(db.connection(), current_user.db_id)
    contact = db.get(StaffContact, current_user.db_id)
    assert contact is not None
    return contact


def _render(form: AlertSettingsForm, contact: StaffContact, code: str | None = None, status: int = 200):
    return render_template("admin/alerts.html", title="Thông báo cho tôi", form=form, contact=contact, code=code,
                           minutes=int(CODE_LIFETIME.total_seconds() // 60), action=ActionForm()), status


@bp.route("/thong-bao", methods=["GET", "POST"])
@login_required
def alert_settings():
    """The member's own alert settings (nobody sees or changes another member's)."""
    db = get_session()
    contact = _contact()
    form = AlertSettingsForm(obj=contact)  # a POST's own data wins over the stored values
    if not form.is_submitted():
        form.kinds.data = contact.kinds if contact.kinds is not None else [c.value for c in ALERT_CHOICES]
    if form.validate_on_submit():
        contact.email = (form.email.data or "").strip() or None
        contact.kinds = list(form.kinds.data or [])
        contact.by_email, contact.by_zalo = bool(form.by_email.data), bool(form.by_zalo.data)
        audit(db, current_user.username, "alerts.settings", kinds=contact.kinds, by_email=contact.by_email,
              by_zalo=contact.by_zalo, email=bool(contact.email))
        db.commit()
        flash("Đã lưu cài đặt thông báo.", "ok")
        return redirect(url_for("admin.alert_settings"))
    db.commit()  # the contact row, if it was just created
    return _render(form, contact, status=400 if form.errors else 200)


@bp.post("/thong-bao/ma-lien-ket")
@login_required
def alert_link_code():
    """A one-time code the member sends to the OA from the Zalo account to link."""
    if not ActionForm().validate():
        return redirect(url_for("admin.alert_settings"))
    db = get_session()
    code = new_code(db.connection(), current_user.db_id)
    audit(db, current_user.username, "alerts.link_code")
    db.commit()
    contact = _contact()
    form = AlertSettingsForm(obj=contact)
    form.kinds.data = contact.kinds if contact.kinds is not None else [c.value for c in ALERT_CHOICES]
    return _render(form, contact, code=code)


@bp.post("/thong-bao/huy-lien-ket")
@login_required
def alert_unlink():
    """Stop Zalo alerts to the linked account."""
    if ActionForm().validate():
        db = get_session()
        db.execute(update(StaffContact).where(StaffContact.user_id == current_user.db_id)
                   .values(zalo_id=None, link_code=None, link_expires=None))
        audit(db, current_user.username, "alerts.unlink")
        db.commit()
        flash("Đã huỷ liên kết Zalo.", "ok")
    return redirect(url_for("admin.alert_settings"))


def waiting_counts() -> dict[str, int]:
    """Open hand-overs: all, those waiting for staff (not for the citizen), those given to the current member."""
    db = get_session()
    rows = db.execute(select(Handoff.state, Handoff.assignee, func.count()).where(Handoff.closed_at.is_(None),
                                                                            citizens_visible(Handoff.citizen_id))
                      .group_by(Handoff.state, Handoff.assignee)).all()
    return {"open": sum(n for _s, _a, n in rows), "todo": sum(n for s, _a, n in rows if s != "waiting"),
            "mine": sum(n for _s, a, n in rows if a == current_user.username)}


@bp.get("/gap-can-bo/dem")
@login_required
def handoff_counts():
    """The counts as JSON, polled by the menu badge so it updates without a reload."""
    return jsonify(waiting_counts())
