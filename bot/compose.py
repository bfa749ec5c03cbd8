"""Compose the Vietnamese replies: procedure summaries, single parts, questions back, fallbacks."""
from __future__ import annotations

import math
import re
from typing import Sequence

from bot.catalog import Commune, Entry
from bot.replies import Button, Reply

# Button payloads come back as citizen text: "#<part> <entry-id>".
PART_CODES = {
    "documents": "giayto",
    "steps": "cacbuoc",
    "fee": "lephi",
    "processing_time": "thoigian",
    "where": "noinop",
    "online": "online",
}
CODE_PARTS = {code: part for part, code in PART_CODES.items()}
PART_TITLES = {
    "documents": "Giấy tờ cần chuẩn bị",
    "steps": "Các bước thực hiện",
    "fee": "Lệ phí",
    "processing_time": "Thời gian giải quyết",
    "where": "Nộp hồ sơ ở đâu",
    "online": "Làm trực tuyến",
}
ONE_STOP = "hỏi bộ phận một cửa"
_PLACEHOLDER = re.compile(r"\{(ten_xa|dia_chi|gio_lam_viec|dien_thoai|to_cong_nghe_so|diem_dvc)\}")


def part_button(part: str, entry_id: str) -> Button:
    """A button that asks for one part of a procedure."""
    return Button(PART_TITLES[part], "query", f"#{PART_CODES[part]} {entry_id}")


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
    """Open the entry's public-service link, if it has one."""
    return Button("Nộp trực tuyến" if entry.kind == "procedure" else "Mở trang hướng dẫn", "url", entry.link) \
        if entry.link else None


def procedure_summary(entry: Entry, commune: Commune) -> Reply:
    """Short summary of a procedure plus buttons for documents, steps, fee and the portal."""
    lines = [entry.title.upper(), fill(entry.summary, commune), "",
             f"• Nơi giải quyết: {entry.authority}",
             f"• Thời gian: {entry.processing_time}",
             f"• Lệ phí: {entry.fee}",
             f"• Trực tuyến: {online_text(entry)}"]
    if entry.notes:
        lines.append(f"• Lưu ý: {fill(entry.notes, commune)}")
    lines.append("Bấm nút bên dưới để xem giấy tờ, các bước; hoặc hỏi tiếp, ví dụ “phí bao nhiêu”.")
    buttons = [part_button("documents", entry.id), part_button("steps", entry.id), part_button("where", entry.id)]
    link = portal_button(entry)
    buttons.append(link or part_button("fee", entry.id))
    return Reply("\n".join(lines), tuple(buttons))


def online_text(entry: Entry) -> str:
    """How far the procedure can be done online, in words citizens know."""
    return {
        "toàn trình": "làm toàn bộ trên mạng (dịch vụ công toàn trình)",
        "một phần": "nộp hồ sơ trên mạng, nhưng vẫn phải đến nơi giải quyết một lần (một phần)",
        "không": "chưa làm trực tuyến được, cần đến trực tiếp",
    }.get(entry.online, entry.online or ONE_STOP)


def _numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def procedure_part(entry: Entry, part: str, commune: Commune) -> Reply:
    """Only the part asked about (documents, steps, fee, time, where, online) of a procedure."""
    title = entry.title
    if part == "documents":
        text = f"Giấy tờ cần chuẩn bị – {title}:\n{_numbered(entry.documents)}"
    elif part == "steps":
        text = f"Các bước – {title}:\n{_numbered(entry.steps)}"
    elif part == "fee":
        text = f"Lệ phí – {title}: {entry.fee}"
    elif part == "processing_time":
        text = f"Thời gian giải quyết – {title}: {entry.processing_time}"
    elif part == "where":
        text = f"Nơi giải quyết – {title}: {entry.authority}"
        if entry.where:
            text += f"\n{fill(entry.where, commune)}"
    else:
        text = f"Làm trực tuyến – {title}: {online_text(entry)}."
        if entry.link:
            text += f"\nĐường dẫn: {entry.link}"
    others = [p for p in ("documents", "steps", "fee", "where") if p != part][:3]
    buttons = [part_button(p, entry.id) for p in others]
    link = portal_button(entry)
    if link:
        buttons.append(link)
    return Reply(text, tuple(buttons[:4]))


def faq_answer(entry: Entry, commune: Commune) -> Reply:
    """An FAQ or conversational intent's answer, with its link as a button."""
    text = fill(entry.answer or entry.summary, commune)
    link = portal_button(entry)
    return Reply(text, (link,) if link else ())


def clarify(options: Sequence[Entry], part: str | None = None) -> Reply:
    """Ask back with at most three numbered options."""
    options = list(options)[:3]
    about = f" ({PART_TITLES[part].lower()})" if part else ""
    text = (f"Bạn muốn hỏi về nội dung nào{about}? Trả lời bằng số:\n"
            + _numbered([o.title for o in options]))
    return Reply(text, tuple(Button(f"{i}. {o.title}", "query", str(i)) for i, o in enumerate(options, 1)))


def ask_which_procedure(part: str) -> Reply:
    """A follow-up with nothing discussed before: ask which procedure."""
    return Reply(f"Bạn muốn hỏi {PART_TITLES[part].lower()} của thủ tục nào? "
                 "Ví dụ: “khai sinh phí bao nhiêu”, “làm căn cước cần giấy tờ gì”.", menu_buttons())


def menu_buttons() -> tuple[Button, ...]:
    """The menu as four query buttons."""
    return (Button("Khai sinh", "query", "đăng ký khai sinh"),
            Button("Thẻ căn cước", "query", "làm thẻ căn cước"),
            Button("Tài khoản VNeID, dịch vụ công", "query", "tài khoản dịch vụ công"),
            Button("Gặp cán bộ", "query", "gặp cán bộ"))


def welcome(commune: Commune) -> Reply:
    """Greeting with the menu, for follow and first chat."""
    return Reply(f"Xin chào! Đây là trợ lý hướng dẫn thủ tục hành chính của {commune.name}. "
                 "Bạn gõ câu hỏi bằng chữ, có dấu hay không dấu đều được, ví dụ: "
                 "“làm giấy khai sinh cần gì”, “đăng ký thường trú”, “quên mật khẩu VNeID”.", menu_buttons())


def fallback(commune: Commune) -> Reply:
    """Politely say we do not know; offer the menu and a human officer."""
    return Reply("Xin lỗi, tôi chưa có thông tin về câu hỏi này. Câu hỏi đã được chuyển cho cán bộ xã xem xét. "
                 f"Bạn có thể chọn mục bên dưới, gõ “gặp cán bộ”, hoặc gọi bộ phận một cửa: {commune.phone}.",
                 menu_buttons())


def empty_text() -> Reply:
    """The citizen sent nothing readable (emoji, blank)."""
    return Reply("Bạn cần hỏi thủ tục gì ạ? Hãy gõ câu hỏi bằng chữ, ví dụ: “làm căn cước cần gì”.",
                 menu_buttons())


def media_reply() -> Reply:
    """The bot reads text only."""
    return Reply("Xin lỗi, trợ lý chỉ đọc được tin nhắn chữ, chưa xem được ảnh, âm thanh, video hay tệp. "
                 "Bạn vui lòng gõ câu hỏi bằng chữ, hoặc gõ “gặp cán bộ” để cán bộ hỗ trợ.", menu_buttons())


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def nearest_point(commune: Commune, lat: float, lon: float) -> Reply:
    """The public-service point closest to the citizen's shared location."""
    if not commune.service_points:
        return Reply(f"Bạn vui lòng liên hệ bộ phận một cửa {commune.name}: {commune.address}, ĐT {commune.phone}.")
    point, dist = min(((p, _km(lat, lon, p.latitude, p.longitude)) for p in commune.service_points),
                      key=lambda pd: pd[1])
    text = f"Điểm dịch vụ công trực tuyến gần bạn nhất (khoảng {dist:.1f} km):\n{point.name}\n{point.address}"
    if point.hours:
        text += f"\nGiờ hỗ trợ: {point.hours}"
    if point.phone:
        text += f"\nĐiện thoại: {point.phone}"
    url = f"https://www.google.com/maps/search/?api=1&query={point.latitude},{point.longitude}"
    return Reply(text, (Button("Xem đường đi", "url", url),))
