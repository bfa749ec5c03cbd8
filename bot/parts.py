"""Which part of a procedure a question is about (documents, fee, time, where, online, steps)."""
from __future__ import annotations

import re

from bot.normalize import Normalizer

# Folded phrases, checked in this order: the first part whose phrase occurs wins.
PART_PHRASES: dict[str, tuple[str, ...]] = {
    "fee": ("le phi", "chi phi", "phi", "bao nhieu tien", "mat tien", "ton tien", "het bao nhieu", "mien phi",
            "tien", "gia bao nhieu", "nhieu tien"),
    "processing_time": ("bao lau", "may ngay", "thoi gian", "bao nhieu ngay", "may hom", "khi nao co", "bao gio co",
                        "lau khong", "lau ko", "mat may", "trong bao lau", "bao nhieu lau"),
    "documents": ("giay to", "ho so gom", "can gi", "can nhung gi", "mang gi", "mang theo", "chuan bi", "thanh phan",
                  "can giay", "can mang", "ho so can"),
    "where": ("o dau", "noi nao", "cho nao", "co quan nao", "len dau", "den dau", "di dau", "nop dau", "lam dau",
              "ai giai quyet", "o xa hay", "o tinh hay"),
    "online": ("online", "truc tuyen", "qua mang", "tren mang", "tai nha", "qua dien thoai", "tren dien thoai",
               "toan trinh", "onl"),
    "steps": ("cac buoc", "thu tuc the nao", "lam the nao", "lam sao", "nhu the nao", "quy trinh", "cach lam",
              "trinh tu", "the nao"),
}
_PATTERNS = {part: re.compile(r"\b(" + "|".join(map(re.escape, ps)) + r")\b") for part, ps in PART_PHRASES.items()}

# Generic words that, with a part phrase, still make a bare follow-up ("vay phi bao nhieu vay").
# Only question words, pronouns and particles: a content word ("so do", "ho") means a new topic.
FILLER = frozenset(
    "a ah oi the thi con vay nhi nhe nha ha lam duoc khong co phai can gi bao nhieu nao sao minh toi em anh "
    "chi bac chu ong ba cho hoi xin muon biet vui long giup voi la o mat het nop di len den cai viec nay "
    "kia day ay roi chua them nua neu ma va hay hoac tren ve thu tuc to".split()
)


def detect_part(normalized: str) -> str | None:
    """The part a question asks about, or None when it asks about the whole procedure."""
    for part, pattern in _PATTERNS.items():
        if pattern.search(normalized):
            return part
    return None


def is_bare_followup(normalized: str, normalizer: Normalizer) -> bool:
    """True when the text asks about a part and names nothing else ("phí bao nhiêu?", "mất bao lâu")."""
    part = detect_part(normalized)
    if part is None:
        return False
    rest = _PATTERNS[part].sub(" ", normalized)
    for other in _PATTERNS.values():
        rest = other.sub(" ", rest)
    return all(w in FILLER or w in normalizer.lexicon.stopwords for w in rest.split())
