"""The dialogue's handler chain: each a check and a handle; the first check that holds answers.

Order is policy: an emergency is answered before anything else, in every state; then buttons, a
wish to leave a hand-over, and silence while staff hold the conversation; then numbered picks,
corrections, acknowledgements, follow-ups, and finally the matcher.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Sequence

from bot import cards, compose
from bot.catalog import Catalog, Entry
from bot.matcher import Candidate
from bot.national import NationalRecord
from bot.national import card as national_card
from bot.parts import detect_part, is_bare_followup
from bot.turn import Context, Turn

_BUTTON = re.compile(r"^#([a-z]+)(?: ([a-z0-9][a-z0-9.-]*))?$")
_PICK = re.compile(r"^(?:so |cau |cai |muc |chon |thu )?([1-9])$")
MENU_LINE = "@"  # an option that is a menu line ("@2"), not an entry id
UNSURE_MARGIN = 0.05  # an answer this close to the next guess, or to the answer threshold, is worth a look
OFF_TOPIC_MIN = 0.45  # similarity to a clearly out-of-scope phrasing that makes a fallback "out of scope"


def menu_options(catalog: Catalog) -> list[str]:
    """The state's options while the numbered menu is on screen."""
    return [f"{MENU_LINE}{n}" for n in range(1, len(catalog.menu) + 1)]


# --- emergencies --------------------------------------------------------------------------------
def is_emergency(ctx: Context) -> bool:
    """Danger happening now, or a call for help (bot.safety)."""
    ctx.verdict = ctx.engine.safety.assess(ctx.text)
    return ctx.verdict.emergency


def emergency(ctx: Context) -> Turn:
    """The numbers that fit, the commune police, short advice; the hand-over (if any) stays open."""
    catalog, verdict = ctx.engine.catalog, ctx.verdict
    entry = catalog.entries.get("khan-cap")
    reply = compose.emergency(verdict.calls, catalog.emergency.get("numbers", {}), entry.answer if entry else "",
                              catalog.commune)
    ctx.state.options, ctx.state.pending_part = [], None
    return Turn((reply,), "emergency", "khan-cap", 1.0, normalized=ctx.normalized)


# --- buttons (hidden payloads) --------------------------------------------------------------------
def is_button(ctx: Context) -> bool:
    """A payload of one of our buttons: "#giayto khai-sinh", "#sai khai-sinh", "#bot", "#canbo"."""
    found = _BUTTON.match(ctx.text.strip())
    if not found:
        return False
    code, target = found.groups()
    if code in ("bot", "canbo"):
        return True
    return ctx.engine.lookup(target or "") is not None and (code in cards.CODE_PARTS or code == cards.WRONG)


def button(ctx: Context) -> Turn:
    """Whatever the button asks; pressing one during a hand-over brings the bot back."""
    code, target = _BUTTON.match(ctx.text.strip()).groups()  # type: ignore[union-attr]
    if code == "bot":
        return leave_handoff(ctx)
    if code == "canbo":
        return _handoff(ctx, 1.0)
    if code == cards.WRONG:
        return _released(ctx, correction(ctx, target))
    return _released(ctx, answer(ctx, ctx.engine.lookup(target), cards.CODE_PARTS[code], 1.0))


# --- hand-over --------------------------------------------------------------------------------------
def is_leaving_handoff(ctx: Context) -> bool:
    """"menu", "quay lại", "hỏi bot": back to the bot (the menu, when no hand-over is open)."""
    return ctx.engine.leave_handoff.matches(ctx.text, ctx.normalized)


def leave_handoff(ctx: Context) -> Turn:
    """Close the hand-over (if open) and show the menu."""
    catalog = ctx.engine.catalog
    intro = compose.handoff_released() if ctx.handoff_open else catalog.entries["menu"].answer
    ctx.state.options, ctx.state.pending_part = menu_options(catalog), None
    reply = compose.menu(intro, catalog.menu, catalog.commune)
    return Turn((reply,), "answered", "menu", 1.0, normalized=ctx.normalized,
                 handoff="close" if ctx.handoff_open else None)


def in_handoff(ctx: Context) -> bool:
    """Staff hold the conversation."""
    return ctx.handoff_open


def wait_for_staff(ctx: Context) -> Turn:
    """No reply: the message waits for staff in the dashboard."""
    return Turn((), "waiting", normalized=ctx.normalized)


def _handoff(ctx: Context, score: float) -> Turn:
    catalog = ctx.engine.catalog
    ctx.state.options, ctx.state.pending_part = [], None
    reply = compose.handoff(catalog.entries["handoff"].answer, catalog.commune, ctx.now)
    return Turn((reply,), "handoff", "handoff", score, normalized=ctx.normalized, handoff="open")


def _released(ctx: Context, turn: Turn) -> Turn:
    if not ctx.handoff_open or turn.handoff is not None:
        return turn
    return replace(turn, handoff="close")


# --- empty messages, numbered picks ------------------------------------------------------------
def is_empty(ctx: Context) -> bool:
    """Nothing readable (blank, symbols, emoji)."""
    return not ctx.normalized


def empty(ctx: Context) -> Turn:
    """An emoji that acknowledges gets the short answer; anything else a prompt to type words."""
    if ctx.engine.acknowledgements.matches(ctx.text, ctx.normalized):
        return acknowledge(ctx)
    return Turn((compose.empty_text(),), "fallback", normalized="")


def is_pick(ctx: Context) -> bool:
    """A bare number: a choice among the options last offered."""
    return bool(_PICK.match(ctx.normalized))


def pick(ctx: Context) -> Turn:
    """The chosen menu line (its entries, numbered) or entry; with nothing offered, the menu."""
    catalog = ctx.engine.catalog
    index = int(_PICK.match(ctx.normalized).group(1)) - 1  # type: ignore[union-attr]
    options = ctx.state.options
    if index >= len(options):
        if options:  # a number past the list: ask again rather than guess
            return Turn((compose.empty_text(),), "clarified", normalized=ctx.normalized)
        return leave_handoff(ctx)
    chosen = options[index]
    if chosen.startswith(MENU_LINE):
        line = catalog.menu[int(chosen[1:]) - 1] if int(chosen[1:]) <= len(catalog.menu) else None
        entries = [catalog.entries[i] for i in line.entries if i in catalog.entries] if line else []
        if not entries:
            return leave_handoff(ctx)
        ctx.state.options = [e.id for e in entries]
        return Turn((compose.menu_section(line, entries),), "clarified", normalized=ctx.normalized,
                     clarify=tuple(ctx.state.options))
    entry = ctx.engine.lookup(chosen)
    if entry is None:  # the catalog was reloaded without it
        return fallback(ctx)
    return answer(ctx, entry, ctx.state.pending_part, 1.0)


# --- "that was wrong" -------------------------------------------------------------------------------
def is_correction(ctx: Context) -> bool:
    """Right after an answer, the citizen says it missed ("không phải", "sai rồi")."""
    return bool(ctx.state.last_entry) and ctx.engine.corrections.strip_leading(ctx.text, ctx.normalized) is not None


def correction(ctx: Context, answered: str | None = None) -> Turn:
    """Report the miss for review; offer the next guesses and a person, or answer what the citizen added."""
    catalog, state = ctx.engine.catalog, ctx.state
    report = {"question": state.last_question or "", "answered": answered or state.last_entry, "said": ctx.text}
    rest = ctx.engine.corrections.strip_leading(ctx.text, ctx.normalized) or ""
    if len(rest.split()) >= 2:  # "không phải, tôi hỏi làm lại giấy khai sinh": answer that instead
        restated = matched(_restated(ctx, rest))
        return replace(restated, report=report)
    options = [i for i in state.alternatives if ctx.engine.lookup(i) is not None and i != report["answered"]][:3]
    state.options, state.pending_part, state.last_entry = options, None, None
    titles = [ctx.engine.title_of(i) for i in options]
    return Turn((compose.wrong_answer(titles),), "wrong_answer", normalized=ctx.normalized,
                 clarify=tuple(state.options), report=report)


def _restated(ctx: Context, rest: str) -> Context:
    ctx.text, ctx.normalized, ctx._match = rest, rest, None
    return ctx


# --- small talk ----------------------------------------------------------------------------------
def is_acknowledgement(ctx: Context) -> bool:
    """"ok", "vâng", "dạ", 👍."""
    return ctx.engine.acknowledgements.matches(ctx.text, ctx.normalized)


def acknowledge(ctx: Context) -> Turn:
    """A short answer, once: a second "ok" in a row gets none (no ping-pong)."""
    quiet = ctx.state.acknowledged
    ctx.state.acknowledged = not quiet
    text = ctx.engine.catalog.dialogue.get("acknowledgement_reply", "")
    replies = () if quiet or not text else (compose.acknowledgement(text),)
    return Turn(replies, "smalltalk", normalized=ctx.normalized)


# --- follow-ups and the matcher -----------------------------------------------------------------
def is_followup(ctx: Context) -> bool:
    """"phí bao nhiêu?" with nothing else named: about the procedure last discussed."""
    if not is_bare_followup(ctx.normalized, ctx.engine.normalizer):
        return False
    last = ctx.engine.lookup(ctx.state.last_entry or "")
    # With no procedure discussed, "nop ho so truc tuyen the nao" may still be an FAQ.
    return _procedure(last) or ctx.match.decision != "answer"


def _procedure(target: Entry | NationalRecord | None) -> bool:
    return isinstance(target, NationalRecord) or (target is not None and target.kind == "procedure")


def followup(ctx: Context) -> Turn:
    """The asked part of the last procedure, or a question back about which one."""
    part = detect_part(ctx.normalized)
    entry = ctx.engine.lookup(ctx.state.last_entry or "")
    if _procedure(entry) and part:
        return answer(ctx, entry, part, 1.0)
    ctx.state.pending_part = part
    return Turn((compose.ask_which_procedure(part or "steps"),), "clarified", normalized=ctx.normalized)


def matched(ctx: Context) -> Turn:
    """Answer, ask back, say it is out of scope, or fall back — as both tiers decide (bot.arbiter)."""
    catalog, engine = ctx.engine.catalog, ctx.engine
    choice = engine.arbiter.choose(ctx.text, ctx.normalized, ctx.match)
    if choice.decision == "answer" and choice.target is not None:
        return answer(ctx, engine.lookup(choice.target), detect_part(ctx.normalized), choice.score or 0.0,
                      choice.candidates)
    if choice.decision == "clarify":
        ctx.state.options = list(choice.options)
        ctx.state.pending_part = detect_part(ctx.normalized)
        ctx.state.last_question = ctx.text
        ctx.state.alternatives = [c.id for c in choice.candidates]
        titles = [engine.title_of(i) for i in choice.options]
        return Turn((compose.clarify(titles, ctx.state.pending_part),), "clarified", None, choice.score,
                    choice.candidates, choice.options, ctx.normalized)
    top = choice.score or 0.0
    if choice.off_topic >= OFF_TOPIC_MIN and choice.off_topic >= top:
        ctx.state.options, ctx.state.pending_part = [], None
        reply = compose.out_of_scope(catalog.dialogue.get("out_of_scope_reply", ""), catalog.commune)
        return Turn((reply,), "out_of_scope", None, choice.score, choice.candidates, normalized=ctx.normalized)
    return fallback(ctx, choice.candidates)


def answer(ctx: Context, entry: Entry | NationalRecord, part: str | None, score: float,
           candidates: Sequence[Candidate] = ()) -> Turn:
    """An entry's or a record's card (or the part asked about), remembered for follow-ups and corrections."""
    catalog, state = ctx.engine.catalog, ctx.state
    state.options, state.pending_part, state.acknowledged = [], None, False
    if isinstance(entry, NationalRecord):
        reply = (national_card.part(entry, part, catalog.commune) if part
                 else national_card.first_card(entry, catalog.commune))
        return _remember(ctx, entry.code, reply, score, candidates)
    if entry.id == "handoff":
        return _handoff(ctx, score)
    if entry.id == "menu":
        return leave_handoff(ctx)
    if entry.kind == "procedure":
        reply = (cards.procedure_part(entry, part, catalog.commune) if part
                 else cards.procedure_summary(entry, catalog.commune))
    elif entry.kind == "faq":
        reply = cards.faq_answer(entry, catalog.commune, whole=part == "details")
    else:
        return Turn((cards.intent_answer(entry, catalog.commune),), "answered", entry.id, round(score, 4),
                    tuple(candidates), normalized=ctx.normalized)
    return _remember(ctx, entry.id, reply, score, candidates)


def _remember(ctx: Context, target: str, reply, score: float, candidates: Sequence[Candidate]) -> Turn:
    state = ctx.state
    if candidates:  # a fresh question answered: remember it for "không phải"
        state.last_question = ctx.text
        state.alternatives = [c.id for c in candidates if c.id != target]
    state.last_entry = target
    return Turn((reply,), "answered", target, round(score, 4), tuple(candidates), normalized=ctx.normalized,
                review="unsure" if _unsure(ctx, candidates) else None)


def _unsure(ctx: Context, candidates: Sequence[Candidate]) -> bool:
    if not candidates:
        return False
    top = candidates[0].score
    second = candidates[1].score if len(candidates) > 1 else 0.0
    return top < ctx.engine.thresholds.answer + UNSURE_MARGIN or top - second < UNSURE_MARGIN


def fallback(ctx: Context, candidates: Sequence[Candidate] = ()) -> Turn:
    """Say plainly there is no guide; the question is queued for staff."""
    ctx.state.options, ctx.state.pending_part = [], None
    return Turn((compose.fallback(ctx.engine.catalog.commune),), "fallback", None,
                candidates[0].score if candidates else None, tuple(candidates), normalized=ctx.normalized)


Check = Callable[[Context], bool]
CHAIN: list[tuple[Check, Callable[[Context], Turn]]] = [
    (is_emergency, emergency),
    (is_button, button),
    (is_leaving_handoff, leave_handoff),
    (in_handoff, wait_for_staff),
    (is_empty, empty),
    (is_pick, pick),
    (is_correction, correction),
    (is_acknowledgement, acknowledge),
    (is_followup, followup),
    (lambda ctx: True, matched),
]
