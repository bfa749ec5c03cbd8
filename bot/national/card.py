"""Replies about a national record: a short first card and its parts, with the record's own portal page."""
from __future__ import annotations

from bot.cards import FIRST_CARD, PART_TITLES, part_button, wrong_button
from bot.catalog import Commune
from bot.national.records import SEE_PAGE, NationalRecord
from bot.replies import Button, Reply, nfc_len, shorten

ONLINE_WORDS = {
    "toàn trình": "làm toàn bộ trên mạng",
    "một phần": "nộp hồ sơ trên mạng được, vẫn phải đến nơi giải quyết",
    "không": "chưa làm trực tuyến được, cần đến trực tiếp",
}
MAIN_DOCUMENTS = 3
NAME_CHARS = 160


def page_button(record: NationalRecord) -> Button | None:
    """The record's own page on the portal: details, forms and online filing."""
    if not record.url:
        return None
    title = "Xem chi tiết" if record.online == "không" else "Xem chi tiết, nộp trực tuyến"
    return Button(title, "url", record.url)


def _documents(record: NationalRecord, limit: int | None = None) -> str:
    shown = record.documents[:limit] if limit else record.documents
    rest = len(record.documents) - len(shown) + record.documents_more
    text = "; ".join(shown) if shown else SEE_PAGE
    return text + (f" (và {rest} giấy tờ khác: {SEE_PAGE})" if rest > 0 and shown else "")


def first_card(record: NationalRecord, commune: Commune) -> Reply:
    """Name, who handles it, time, fee, online or not, the main documents, the desk's phone."""
    facts = [f"• Nơi giải quyết: {record.authority or SEE_PAGE}",
             f"• Thời gian: {record.time or SEE_PAGE}",
             f"• Lệ phí: {record.fee or SEE_PAGE}",
             f"• Trực tuyến: {ONLINE_WORDS.get(record.online, SEE_PAGE)}"]
    documents = f"• Giấy tờ chính: {_documents(record, MAIN_DOCUMENTS)}"
    ask = f"Cần hỏi thêm, gọi bộ phận một cửa {commune.name}: {commune.phone}."
    name = shorten(record.name, NAME_CHARS)  # the page carries the whole official name
    for lines in ([name, *facts, documents, ask], [name, *facts, ask]):  # the documents are one button away
        if nfc_len("\n".join(lines)) <= FIRST_CARD:
            break
    buttons = [b for b in (page_button(record), part_button("documents", record.code)) if b]
    return Reply("\n".join(lines), (*buttons, wrong_button(record.code)))


def part(record: NationalRecord, name: str, commune: Commune) -> Reply:
    """One part of the record (documents, fee, time, where, online, legal basis, steps)."""
    if name == "documents":
        text = f"Giấy tờ cần chuẩn bị – {record.name}:\n" + "\n".join(
            f"{i}. {d}" for i, d in enumerate(record.documents, 1)) if record.documents else f"Giấy tờ: {SEE_PAGE}."
        if record.documents_more:
            text += f"\nCòn {record.documents_more} loại giấy tờ cho trường hợp khác: {SEE_PAGE}."
    elif name in ("fee", "processing_time"):
        which = "Lệ phí" if name == "fee" else "Thời gian giải quyết"
        lines = [f"• {c.kind}: {c.fee if name == 'fee' else c.time}" for c in record.channels]
        text = f"{which} – {record.name}:\n" + ("\n".join(lines) if lines else SEE_PAGE)
    elif name == "where":
        text = f"Nơi giải quyết – {record.name}: {record.authority or SEE_PAGE}."
    elif name == "online":
        text = f"Làm trực tuyến – {record.name}: {ONLINE_WORDS.get(record.online, SEE_PAGE)}."
    elif name == "legal_basis":
        text = f"{PART_TITLES['legal_basis']} – {record.name}:\n" + (
            "\n".join(f"• {b}" for b in record.legal_basis) or SEE_PAGE)
    else:  # the steps are on the page
        text = f"Các bước – {record.name}: xem trên trang thủ tục, hoặc hỏi bộ phận một cửa: {commune.phone}."
    buttons = [b for b in (page_button(record),) if b]
    for other in ("documents", "fee", "legal_basis"):
        if other != name and len(buttons) < 3:
            buttons.append(part_button(other, record.code))
    return Reply(text, tuple(buttons))
