"""The conversation's own replies: welcome and menu, questions back, fallbacks, emergencies, hand-overs."""
from __future__ import annotations

import datetime as dt
import math
from typing import Mapping, Sequence

from bot.cards import PART_TITLES, fill
from bot.catalog import Commune, Entry, MenuOption
from bot.hours import describe
from bot.replies import Button, Reply

HANDOFF_BUTTON = Button("Gặp cán bộ", "query", "#canbo")
BACK_BUTTON = Button("Quay lại trợ lý", "query", "#bot")


def _numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def menu_buttons() -> tuple[Button, ...]:
    """Four everyday topics as buttons."""
    return (Button("Khai sinh", "query", "đăng ký khai sinh"),
            Button("Thẻ căn cước", "query", "làm thẻ căn cước"),
            Button("Tài khoản VNeID, dịch vụ công", "query", "tài khoản dịch vụ công"),
            HANDOFF_BUTTON)


def menu(intro: str, options: Sequence[MenuOption], commune: Commune) -> Reply:
    """The numbered menu: an introduction, then the options a citizen picks by typing their number."""
    lines = [fill(intro, commune).strip(), _numbered([o.title for o in options]),
             f"Gõ số từ 1 đến {len(options)} để chọn. Gõ “gặp cán bộ” để nhắn cán bộ xã. Khẩn cấp gọi 113, 114, 115."]
    return Reply("\n".join(line for line in lines if line), menu_buttons())


def welcome(commune: Commune, options: Sequence[MenuOption]) -> Reply:
    """Greeting with the numbered menu, for follow and first chat."""
    intro = (f"Xin chào! Đây là trợ lý hướng dẫn thủ tục hành chính của {commune.name}. Bạn gõ câu hỏi bằng "
             "chữ, có dấu hay không dấu đều được, ví dụ “làm giấy khai sinh cần gì”, hoặc chọn một mục:")
    return menu(intro, options, commune)


def menu_section(option: MenuOption, entries: Sequence[Entry]) -> Reply:
    """The entries under one menu line, numbered."""
    return Reply(f"{option.title}. Trả lời bằng số:\n" + _numbered([e.title for e in entries]))


def clarify(titles: Sequence[str], part: str | None = None) -> Reply:
    """Ask back with at most three numbered options."""
    titles = list(titles)[:3]
    about = f" ({PART_TITLES[part].lower()})" if part else ""
    text = f"Bạn muốn hỏi về nội dung nào{about}? Trả lời bằng số:\n" + _numbered(titles)
    return Reply(text, tuple(Button(f"{i}. {t}", "query", str(i)) for i, t in enumerate(titles, 1)))


def wrong_answer(titles: Sequence[str]) -> Reply:
    """The citizen said the answer missed: apologise, offer the next guesses and a person."""
    if not titles:
        return Reply("Xin lỗi bạn, tôi đã hiểu chưa đúng. Bạn gõ lại câu hỏi rõ hơn giúp tôi (ví dụ tên giấy tờ "
                     "cần làm), hoặc bấm “Gặp cán bộ”. Câu hỏi đã được gửi cho cán bộ xã xem lại.", (HANDOFF_BUTTON,))
    titles = list(titles)[:3]
    text = ("Xin lỗi bạn, tôi đã hiểu chưa đúng; câu hỏi đã được gửi cho cán bộ xã xem lại. "
            "Có phải bạn hỏi một trong các mục sau? Trả lời bằng số:\n" + _numbered(titles))
    buttons = tuple(Button(f"{i}. {t}", "query", str(i)) for i, t in enumerate(titles, 1))
    return Reply(text, buttons + (HANDOFF_BUTTON,))


def ask_which_procedure(part: str) -> Reply:
    """A follow-up with nothing discussed before: ask which procedure."""
    return Reply(f"Bạn muốn hỏi {PART_TITLES[part].lower()} của thủ tục nào? "
                 "Ví dụ: “khai sinh phí bao nhiêu”, “làm căn cước cần giấy tờ gì”.", menu_buttons())


def fallback(commune: Commune) -> Reply:
    """Say plainly that there is no guide; the portal's search, the desk's phone and a person instead."""
    return Reply("Xin lỗi, tôi chưa có hướng dẫn cho câu hỏi này; câu hỏi đã được chuyển cho cán bộ xã xem. "
                 f"Bạn có thể tìm tên thủ tục trên Cổng Dịch vụ công ({commune.portal}), gọi bộ phận một cửa "
                 f"{commune.phone}, hoặc bấm “Gặp cán bộ”.",
                 (Button("Tìm trên Cổng Dịch vụ công", "url", commune.portal), HANDOFF_BUTTON,
                  Button("Xem menu", "query", "menu")))


def out_of_scope(text: str, commune: Commune) -> Reply:
    """One polite line on what the bot is for (the question is counted, not queued for staff)."""
    return Reply(fill(text, commune).strip())


def acknowledgement(text: str) -> Reply:
    """A short answer to "ok", "vâng", 👍."""
    return Reply(text.strip())


def emergency(calls: Sequence[str], numbers: Mapping[str, str], advice: str, commune: Commune) -> Reply:
    """The number that fits first, then the others, then the commune police; nothing about procedures."""
    first, others = calls[0], calls[1:]
    lines = [f"KHẨN CẤP: gọi ngay {first} ({numbers.get(first, '')})."]
    if others:
        lines.append("Các số khác: " + ", ".join(f"{n} ({numbers.get(n, '')})" for n in others) + ".")
    if commune.police_phone:
        lines.append(f"Công an xã: {commune.police_phone}.")
    if advice:
        lines.append(advice.strip())
    return Reply("\n".join(lines))


def handoff(answer: str, commune: Commune, now: dt.datetime) -> Reply:
    """The hand-over reply; outside office hours it says when staff will see the message."""
    text = fill(answer, commune).strip()
    office = commune.office
    if office.known and not office.is_open(now):
        opening = office.next_opening(now)
        if opening is not None:
            text += f"\nBây giờ là ngoài giờ làm việc: cán bộ sẽ xem tin nhắn của bạn từ {describe(opening, now)}."
    return Reply(text + "\nMuốn hỏi trợ lý tiếp, gõ “menu” hoặc bấm “Quay lại trợ lý”.", (BACK_BUTTON,))


def handoff_released() -> str:
    """The line that opens the menu when a citizen leaves a hand-over."""
    return "Bạn đã quay lại trợ lý tự động; yêu cầu gặp cán bộ đã được hủy. Tôi giúp được các việc sau:"


def handoff_expired(commune: Commune) -> Reply:
    """Sent when a hand-over closes itself after staff stayed silent too long."""
    return Reply("Yêu cầu gặp cán bộ của bạn đã tự đóng vì chưa có cán bộ trả lời. Bạn có thể hỏi lại trợ lý, "
                 f"gõ “gặp cán bộ” để gửi yêu cầu mới, hoặc gọi bộ phận một cửa: {commune.phone}.", menu_buttons())


def empty_text() -> Reply:
    """The citizen sent nothing readable (blank, symbols)."""
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

