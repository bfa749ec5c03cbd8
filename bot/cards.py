"""Cards for one catalog entry: a procedure's first card and its parts, an FAQ's answer, their buttons."""
from __future__ import annotations

import re
from typing import Sequence

from bot.catalog import Commune, Entry
from bot.replies import Button, Reply, nfc_len

# A first card fits a phone screen; the rest sits behind buttons.
FIRST_CARD = 600
# Button payloads come back as citizen text: "#<code> <entry-id>" (hidden from the chat by the channel).
PART_CODES = {
    "documents": "giayto",
    "steps": "cacbuoc",
    "fee": "lephi",
    "processing_time": "thoigian",
    "where": "noinop",
    "online": "online",
    "legal_basis": "cancu",
    "details": "chitiet",  # an FAQ's whole answer, when its first card shows the summary only
}
CODE_PARTS = {code: part for part, code in PART_CODES.items()}
WRONG = "sai"  # "#sai <entry-id>": the citizen says this answer missed
PART_TITLES = {
    "documents": "Giấy tờ cần chuẩn bị",
    "steps": "Các bước thực hiện",
    "fee": "Lệ phí",
    "processing_time": "Thời gian giải quyết",
    "where": "Nộp hồ sơ ở đâu",
    "online": "Làm trực tuyến",
    "legal_basis": "Căn cứ pháp lý",
    "details": "Xem hướng dẫn chi tiết",
}
ONE_STOP = "hỏi bộ phận một cửa"
_PLACEHOLDER = re.compile(r"\{(ten_xa|dia_chi|gio_lam_viec|dien_thoai|to_cong_nghe_so|diem_dvc)\}")


def part_button(part: str, entry_id: str) -> Button:
    """A button that asks for one part of an entry."""
    return Button(PART_TITLES[part], "query", f"#{PART_CODES[part]} {entry_id}")


def wrong_button(entry_id: str) -> Button:
    """"Chưa đúng ý": the citizen tells the bot this answer missed."""
    return Button("Chưa đúng ý", "query", f"#{WRONG} {entry_id}")


def fill(text: str, commune: Commune) -> str:
    """Replace the admin-facing placeholders ({ten_xa}, {dien_thoai}, …) with the commune's facts."""
    team = "; ".join(f"{m['name']} ({m.get('role', 'tổ công nghệ số')}): {m['phone']}" for m in commune.tech_team)
    points = "; ".join(f"{p.name}, {p.address}" for p in commune.service_points)
    values = {
        "ten_xa": commune.name, "dia_chi": commune.address, "gio_lam_viec": commune.hours,
        "dien_thoai": commune.phone, "to_cong_nghe_so": team or ONE_STOP, "diem_dvc": points or ONE_STOP,
    }
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def portal_button(entry: Entry) -> Button | None:
    """The entry's own portal page: "Nộp trực tuyến" only where the procedure can be done online."""
    if not entry.link:
        return None
    if entry.kind != "procedure":
        return Button("Mở trang hướng dẫn", "url", entry.link)
    title = "Xem chi tiết" if entry.online == "không" else "Xem chi tiết, nộp trực tuyến"
    return Button(title, "url", entry.link)


def online_text(entry: Entry) -> str:
    """How far the procedure can be done online, in words citizens know."""
    return {
        "toàn trình": "làm toàn bộ trên mạng (dịch vụ công toàn trình)",
        "một phần": "nộp hồ sơ trên mạng, nhưng vẫn phải đến nơi giải quyết một lần (một phần)",
        "không": "chưa làm trực tuyến được, cần đến trực tiếp",
    }.get(entry.online, entry.online or ONE_STOP)


def procedure_summary(entry: Entry, commune: Commune) -> Reply:
    """A procedure's first card: what, who, how long, how much, online or not; details behind buttons."""
    facts = [f"• Nơi giải quyết: {entry.authority}",
             f"• Thời gian: {entry.processing_time}",
             f"• Lệ phí: {entry.fee}",
             f"• Trực tuyến: {online_text(entry)}"]
    hint = "Bấm nút bên dưới để xem giấy tờ, các bước; hoặc hỏi tiếp, ví dụ “phí bao nhiêu”."
    # On a small screen the facts matter more than the summary, and the summary more than the hint.
    for lines in ([entry.title.upper(), fill(entry.summary, commune), "", *facts, hint],
                  [entry.title.upper(), *facts, hint], [entry.title.upper(), *facts]):
        if nfc_len("\n".join(lines)) <= FIRST_CARD:
            break
    third = portal_button(entry) if entry.online != "không" else None
    buttons = (part_button("documents", entry.id), part_button("steps", entry.id),
               third or part_button("where", entry.id), wrong_button(entry.id))
    return Reply("\n".join(lines), buttons)


def _numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def procedure_part(entry: Entry, part: str, commune: Commune) -> Reply:
    """Only the part asked about (documents, steps, fee, time, where, online, legal basis) of a procedure."""
    title = entry.title
    if part == "documents":
        text = f"Giấy tờ cần chuẩn bị – {title}:\n{_numbered(entry.documents)}"
    elif part == "steps":
        text = f"Các bước – {title}:\n{_numbered(entry.steps)}"
        if entry.notes:
            text += f"\nLưu ý: {fill(entry.notes, commune)}"
    elif part == "fee":
        text = f"Lệ phí – {title}: {entry.fee}"
    elif part == "processing_time":
        text = f"Thời gian giải quyết – {title}: {entry.processing_time}"
    elif part == "where":
        text = f"Nơi giải quyết – {title}: {entry.authority}"
        if entry.where:
            text += f"\n{fill(entry.where, commune)}"
    elif part == "legal_basis":
        return legal_basis(entry)
    else:
        text = f"Làm trực tuyến – {title}: {online_text(entry)}."
    others = [p for p in ("documents", "steps", "fee", "where") if p != part][:2]
    buttons = [part_button(p, entry.id) for p in others]
    if entry.legal_basis:
        buttons.append(part_button("legal_basis", entry.id))
    link = portal_button(entry)
    buttons.append(link or part_button("processing_time" if part != "processing_time" else "online", entry.id))
    return Reply(text, tuple(buttons[:4]))


def legal_basis(entry: Entry) -> Reply:
    """The legal texts an entry rests on (kept out of the first card)."""
    lines = "\n".join(f"• {basis}" for basis in entry.legal_basis) or f"• {ONE_STOP}"
    link = portal_button(entry)
    return Reply(f"Căn cứ pháp lý – {entry.title}:\n{lines}", (link,) if link else ())


def faq_answer(entry: Entry, commune: Commune, *, whole: bool = False) -> Reply:
    """An FAQ's answer; over a phone screen, its summary first and the whole answer behind a button."""
    text = fill(entry.answer or entry.summary, commune)
    buttons: list[Button] = []
    if not whole and nfc_len(text) > FIRST_CARD and entry.summary:
        text = fill(entry.summary, commune)
        buttons.append(part_button("details", entry.id))
    link = portal_button(entry)
    if link:
        buttons.append(link)
    if entry.kind == "faq":
        buttons.append(wrong_button(entry.id))
    return Reply(text, tuple(buttons))


def intent_answer(entry: Entry, commune: Commune) -> Reply:
    """A conversational intent's answer (greeting, thanks)."""
    link = portal_button(entry)
    return Reply(fill(entry.answer or entry.summary, commune), (link,) if link else ())
