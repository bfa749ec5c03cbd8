"""Page 5: talk to the real engine (same state handling as citizens) before citizens do."""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

from flask import current_app, redirect, render_template, url_for
from flask_login import current_user, login_required

from webhooks.admin.blueprint import bp
from webhooks.admin.common import engine
from webhooks.admin.forms import ActionForm, ChatForm
from webhooks.storage.engine import get_session
from webhooks.storage.state import SqlStateStore

TRANSCRIPT_TURNS = 20
_lock = threading.Lock()


def _user_key() -> str:
    # Its own key space: a staff member's test chat never touches a citizen's state.
    return f"admin:{current_user.username}"


def _transcript() -> deque:
    """This user's recent test turns (kept in this process only; they are throwaway)."""
    with _lock:
        store: dict[str, deque] = current_app.extensions.setdefault("bot.admin.transcripts", {})
        return store.setdefault(_user_key(), deque(maxlen=TRANSCRIPT_TURNS))


def _turn_view(text: str, turn: Any) -> dict[str, Any]:
    return {"text": text, "outcome": turn.outcome, "intent": turn.intent, "score": turn.score,
            "normalized": turn.normalized, "candidates": [(c.id, c.score) for c in turn.candidates[:3]],
            "replies": [{"text": r.text, "buttons": [(b.title, b.kind, b.value) for b in r.buttons]}
                        for r in turn.replies]}


@bp.route("/thu-bot", methods=["GET", "POST"])
@login_required
def chat():
    """A chat box wired to the running engine; button queries can be sent by clicking them."""
    form = ChatForm()
    status = 200
    if form.validate_on_submit():
        db = get_session()
        text = (form.text.data or "").strip()
        turn = engine().respond(_user_key(), text, SqlStateStore(db.connection()))
        db.commit()
        _transcript().append(_turn_view(text, turn))
        return redirect(url_for("admin.chat"))
    if form.errors:
        status = 400
    return render_template("admin/chat.html", title="Thử bot", form=form, turns=list(_transcript()),
                           reset=ActionForm(), version=engine().catalog.version), status


@bp.post("/thu-bot/lam-lai")
@login_required
def chat_reset():
    """Start the test conversation over."""
    db = get_session()
    SqlStateStore(db.connection()).delete(_user_key())
    db.commit()
    _transcript().clear()
    return redirect(url_for("admin.chat"))
