"""The flattened documents table (short names) and legal-basis table ("Nghị định 123/2015/NĐ-CP")."""
from __future__ import annotations

import re

from bot.national.records import Issue
from bot.text import fold

DOC_HEADER = "Tên giấy tờMẫu đơn, tờ khaiSố lượng"
LAW_HEADER = "Tên văn bản pháp lýMã văn bản"
MAX_DOCUMENTS = 10
MAX_NAME = 120
MAX_LAWS = 12
_QUANTITY = re.compile(r"\d+\s*[Bb]ản\s*(?:chính|sao)(?:\s*,\s*\d+\s*[Bb]ản\s*(?:chính|sao))*")
_BULLET = re.compile(r"^(?:[-+*•–]\s*|\((?:\d+|[ivx]+)\)\s*|[a-zđ]\)\s*|\d+[.)]\s+)+")
_FILE = re.compile(r"\.(?:docx?|pdf|xlsx?|rar|zip)\s*$", re.I)
_FORM = re.compile(r"[Mm]ẫu\s+(số\s+)?([A-ZĐ0-9][\w./-]*\w)")
_CUTS = (" (", "(", " theo ", " ban hành", ". ", "; ", ": ", " - ")
_CONDITIONAL = re.compile(r"^(?:Trường hợp|Đối với trường hợp|Nếu)\s+(.{3,}?)\s+(?:thì\s+(?:phải\s+)?|phải\s+)"
                          r"(?:có|nộp(?: lại)?|xuất trình|kèm theo|bổ sung)?\s*(.{3,})$")
_DISTRICT = re.compile(r"\bcap huyen\b|\b(?:ubnd|uy ban nhan dan) (?:cap )?huyen\b|\bcong an huyen\b")
_YEAR = re.compile(r"/(\d{4})/")
# First part of the code -> kind of text.
_KINDS = {"NĐ": "Nghị định", "TT": "Thông tư", "TTLT": "Thông tư liên tịch", "NQ": "Nghị quyết",
          "NQLT": "Nghị quyết liên tịch", "QĐ": "Quyết định", "QD": "Quyết định", "PL": "Pháp lệnh", "L": "Luật"}
# Issuers' abbreviations that end a code ("TT-BCA"): a lower-case letter after them opens the next cell.
ISSUERS = frozenset("CP BTC BCA BTP BNNMT BNNPTNT BTNMT BXD BGTVT BLĐTBXH BYT BNV BQP NHNN BCT BKHĐT BTTTT "
                    "BGDĐT BVHTTDL BKHCN VPCP TANDTC VKSNDTC UBND BDTTG".split())
_TITLE_WORDS = ("Bộ luật", "Luật", "Nghị quyết", "Pháp lệnh", "Nghị định", "Thông tư", "Quyết định")


def mentions_district(text: str) -> bool:
    """True when text sends someone to the district level (abolished on 1 July 2025)."""
    return bool(_DISTRICT.search(fold(text)))


def _strip_file(text: str) -> str:
    """Drop a form's file name glued to the end of a row ("…của Bộ Công an)Mẫu DC01 Phiếu.docx")."""
    if not _FILE.search(text):
        return text
    # A cell boundary shows as a lower-case letter, ")" , "." or digit followed at once by a capital.
    cuts = [i for i in range(1, len(text)) if text[i].isupper() and (text[i - 1].islower() or text[i - 1] in ").0123456789")]
    return text[:cuts[-1]] if cuts else _FILE.sub("", text)


def short_name(row: str) -> str:
    """A document's name as a citizen needs it: first clause, form number kept, at most MAX_NAME characters."""
    text = " ".join(_strip_file(row).split())
    text = _BULLET.sub("", text).strip(" .;:,")
    cond = _CONDITIONAL.match(text)
    if cond:
        when = _first_clause(cond.group(1))
        return _cap(f"{_first_clause(cond.group(2))} (nếu {when[:1].lower()}{when[1:]})")
    return _cap(_first_clause(text))


def _first_clause(text: str) -> str:
    form = _FORM.search(text)
    cut = min((i for i in (text.find(c) for c in _CUTS) if i >= 8), default=len(text))
    head = text[:cut].strip(" .;:,")
    if form and form.group(2) not in head:
        head += f" (mẫu {form.group(1) or ''}{form.group(2)})"
    return head


def _cap(text: str) -> str:
    if len(text) > MAX_NAME:
        text = text[:MAX_NAME].rsplit(" ", 1)[0] + "…"
    return text[:1].upper() + text[1:]


def _is_conditional(name: str) -> bool:
    folded = fold(name)
    return any(w in folded for w in ("truong hop", "(neu ", "doi voi"))


def _rows(chunk: str) -> tuple[list[tuple[str, bool]], str]:
    """(row text, needed) pairs of one table and the text after its last quantity."""
    rows, start = [], 0
    for m in _QUANTITY.finditer(chunk):
        needed = any(int(n) > 0 for n in re.findall(r"\d+", m.group(0)))
        rows.append((chunk[start:m.start()], needed))
        start = m.end()
    return rows, chunk[start:]


def parse_documents(text: str) -> tuple[tuple[str, ...], int, list[Issue]]:
    """Short names of the documents (general tables, else the first case), how many rows were left out, issues."""
    issues: list[Issue] = []
    text = text or ""
    if DOC_HEADER not in text:
        if text.strip():
            issues.append(Issue("documents", "no documents table"))
        return (), 0, issues
    chunks = text.split(DOC_HEADER)
    general: list[str] = []
    cases: list[list[str]] = []
    left = 0
    for i, chunk in enumerate(chunks[1:], 1):
        caption = _rows(chunks[i - 1])[1] if i > 1 else chunks[0]
        rows, tail = _rows(chunk)
        if i == len(chunks) - 1 and tail.strip():
            issues.append(Issue("documents", "last row cut off"))
        names = [short_name(r) for r, needed in rows if needed and r.strip()]
        dropped = [n for n in names if mentions_district(n)]
        if dropped:
            issues.append(Issue("documents", "row naming the district level left out"))
        names = [n for n in names if n not in dropped]
        left += len(dropped)
        conditional = "truong hop" in fold(caption) or "luu y" in fold(caption)
        (cases.append(names) if conditional else general.extend(names))
    # Documents everyone brings first; those for a particular case after them, in the source's order.
    chosen = sorted(general or (cases.pop(0) if cases else []), key=_is_conditional)
    left += sum(len(c) for c in cases)
    if not chosen and not left:
        issues.append(Issue("documents", "no row with a quantity"))
    unique: dict[str, str] = {}
    for name in chosen:
        unique.setdefault(fold(name), name)  # the same document named twice, once with other accents
    names = list(unique.values())
    return tuple(names[:MAX_DOCUMENTS]), left + max(0, len(names) - MAX_DOCUMENTS), issues


def _number(text: str, end: int) -> str:
    """The document number that ends at `end` ("123" of "123/2015"), not the legislature digits before it."""
    i = end
    while i > 0 and (text[i - 1].isdigit() or text[i - 1] == "."):
        i -= 1
    number = text[i:end].lstrip(".")
    if text[max(0, i - 2):i] == "QH" and len(number) > 2:
        number = number[2:]  # "…QH1360/2014": "13" closes the previous code
    elif len(number) > 4 and re.match(r"(19|20)\d\d", number):
        number = number[4:]  # "…sửa đổi 202323/2023": a year closes the previous cell
    return number


def _suffix(text: str, start: int) -> str:
    """The code's letters after the year ("NĐ-CP", "QH13", "QĐ-TTg"), without the next cell's first capital."""
    end = start
    while end < len(text) and (text[end].isupper() or text[end].isdigit() or text[end] == "-"):
        end += 1
    code, nxt = text[start:end], text[end:end + 1]
    qh = re.match(r"(.*?QH\d{2})", code)
    if qh:
        return qh.group(1)
    if code.endswith("-TT") and nxt == "g":
        return code + "g"
    if code.startswith("NĐ"):
        return "NĐ-CP"  # every decree is the Government's; the cell after it may eat or lend a letter
    code = code.rstrip("-0123456789")
    head, _, last = code.rpartition("-")
    if last not in ISSUERS:
        # "TT-BTNMTSỬA ĐỔI…": an upper-case title ran into the issuer's abbreviation.
        known = [i for i in ISSUERS if last.startswith(i)]
        if known:
            return f"{head}-{max(known, key=len)}" if head else max(known, key=len)
        if nxt.islower() and code[-1:].isalpha():
            code = code[:-1]  # "TT-BTCNghị định": the "N" opens the next title
    return code


def _kind(code: str, before: str) -> str:
    kind = _KINDS.get(code.split("-")[0])
    if kind:
        return kind
    if "QH" not in code:
        return "Văn bản"
    # Laws and Assembly resolutions share "…/QH15": the title just before the code tells them apart.
    lowered = before.lower()
    found = [(lowered.rfind(w.lower()), w) for w in _TITLE_WORDS if lowered.rfind(w.lower()) >= 0]
    return max(found)[1] if found else "Văn bản"


def parse_legal_basis(text: str) -> tuple[tuple[str, ...], list[Issue]]:
    """Distinct legal texts in order of appearance, each as "<kind> <number>/<year>/<code>"."""
    issues: list[Issue] = []
    # Codes typed with a space or an underscore after a dash ("11/2020/TT- BTP", "TT_BCA").
    text = re.sub(r"(?<=[A-ZĐ])(?:-\s+|_)(?=[A-ZĐ])", "-", text or "")
    out: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for m in _YEAR.finditer(text):
        number, suffix = _number(text, m.start()), _suffix(text, m.end())
        if not number or not suffix:
            continue
        # "190/2025/QH15" in a title and "190/2025/NQ-QH15" in the code cell are one resolution.
        key = (number, m.group(1), "QH" if "QH" in suffix else suffix)
        if key in seen:
            continue
        seen.add(key)
        out.append(f"{_kind(suffix, text[max(0, m.start() - 160):m.start()])} {number}/{m.group(1)}/{suffix}")
    if not out and text.strip() and text.strip() != LAW_HEADER and not text.startswith("Không có thông tin"):
        issues.append(Issue("legal_basis", "no document number found"))
    return tuple(out[:MAX_LAWS]), issues
