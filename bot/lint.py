"""Check the catalog and the national aliases: errors with positions, plus warnings admins should act on."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import urlsplit

from bot.catalog import Catalog, CatalogError, Commune, Entry, load_catalog
from bot.national.aliases import read_aliases
from bot.national.loader import load_national
from bot.yaml_source import Problem, position, read_yaml
from bot.normalize import Normalizer

REQUIRED_IDS = (
    "khai-sinh lien-thong-khai-sinh ket-hon khai-tu lien-thong-khai-tu trich-luc-ho-tich "
    "xac-nhan-tinh-trang-hon-nhan thuong-tru tam-tru the-can-cuoc dinh-danh-dien-tu chung-thuc-ban-sao ho-chieu "
    "doi-gplx ho-kinh-doanh ly-lich-tu-phap dang-ky-xe giay-phep-xay-dung bhyt-ho-gia-dinh cap-so-do "
    "tai-khoan-dvc quen-mat-khau-vneid nop-ho-so-truc-tuyen tra-cuu-ho-so thanh-toan-truc-tuyen to-cong-nghe-so "
    "diem-dvc-truc-tuyen lua-dao-truc-tuyen chu-ky-so thanh-toan-khong-tien-mat gio-lam-viec "
    "greeting thanks menu handoff khan-cap"
).split()
STALE_AFTER = dt.timedelta(days=365)


# Numbers a citizen can call: mobiles (03, 05, 07, 08, 09 + 8 digits), landlines (02 + 9 digits),
# 1800/1900 lines, the three-digit emergency numbers; optionally written +84 / 84 instead of 0.
_PHONE = re.compile(r"^(?:0[35789]\d{8}|02\d{9}|1[89]00\d{4}(?:\d{2})?|11[1-5])$")
_EXAMPLE_MARK = re.compile(r"v[ií] d[uụ]|example", re.IGNORECASE)


def lint(catalog_path: Path, intents_dir: Path, today: dt.date | None = None, demo: bool = False,
         national_index: Path | None = None, national_aliases: Path | None = None) -> list[Problem]:
    """The catalog's errors (it does not load) or else its findings, then the national aliases' own.

    `demo`: the shipped example commune is expected; otherwise its placeholders are errors.
    """
    catalog = None
    try:
        catalog = load_catalog(Path(catalog_path), Path(intents_dir))
    except CatalogError as exc:
        problems = list(exc.problems)
    else:
        problems = findings(catalog, today or dt.date.today())
        if not demo:
            problems += live_data(catalog, Path(catalog_path))
    if national_index is not None and national_aliases is not None:
        problems += lint_national(Path(national_index), Path(national_aliases), catalog)
    return problems


def live_data(catalog: Catalog, catalog_path: Path) -> list[Problem]:
    """An error at its line for every commune fact still holding the shipped example."""
    tree, _ = read_yaml(catalog_path)
    out = []
    for field, why in example_data(catalog.commune):
        keys = [int(k) if k.isdigit() else k for k in ["commune", *field.split("/")]]
        line, col = position(tree, keys)
        out.append(Problem(str(catalog_path), line, col, f"commune/{field}: {why}"))
    return out


def phone_ok(text: str) -> bool:
    """Every number written in `text` is one a citizen can call (placeholders like 0123 456 789 are not)."""
    numbers = re.findall(r"\+?\d[\d .\-]{1,16}\d", text)
    digits = [re.sub(r"\D", "", n) for n in numbers]
    digits = ["0" + d[2:] if d.startswith("84") and len(d) >= 11 else d for d in digits]
    return bool(digits) and all(_PHONE.match(d) for d in digits)


def example_data(commune: Commune) -> list[tuple[str, str]]:
    """(field, why) for every commune fact still holding the shipped example: a live service must not use them."""
    out: list[tuple[str, str]] = []
    if commune.example:
        out.append(("example", "đây vẫn là dữ liệu ví dụ (example: true): điền thông tin thật của xã rồi đổi thành false"))
    phones = {"phone": commune.phone, "police_phone": commune.police_phone}
    phones.update({f"tech_team/{i}/phone": m.get("phone", "") for i, m in enumerate(commune.tech_team)})
    phones.update({f"service_points/{i}/phone": p.phone for i, p in enumerate(commune.service_points) if p.phone})
    for field, value in phones.items():
        if value and not phone_ok(value):
            out.append((field, f"số điện thoại {value!r} không phải số gọi được (số ví dụ?)"))
    texts = {"name": commune.name, "address": commune.address, "hours": commune.hours}
    texts.update({f"tech_team/{i}/name": m.get("name", "") for i, m in enumerate(commune.tech_team)})
    texts.update({f"service_points/{i}/name": p.name for i, p in enumerate(commune.service_points)})
    for field, value in texts.items():
        if _EXAMPLE_MARK.search(value or ""):
            out.append((field, f"còn chữ “VÍ DỤ”: {value!r}"))
    return out


def lint_national(index_path: Path, aliases_path: Path, catalog: Catalog | None) -> list[Problem]:
    """Errors of the aliases file (schema, unknown codes) or else a warning per alias a curated entry already asks."""
    try:
        load_national(index_path, aliases_path)
    except CatalogError as exc:
        return list(exc.problems)
    if catalog is None:
        return []
    normalizer = Normalizer(catalog.lexicon)
    curated = {normalizer(q): e for e in catalog.entries.values() for q in e.questions}
    entries, _ = read_aliases(aliases_path)
    out = []
    for entry in entries:
        for alias, (line, col) in zip(entry.aliases, entry.alias_positions):
            owner = curated.get(normalizer(alias))
            # A curated entry carrying this very code answers for the record: nothing is hidden.
            if owner is not None and entry.code not in owner.code:
                out.append(Problem(str(aliases_path), line, col, f"{entry.code}: alias {alias!r} is a phrasing of "
                                                                 f"curated {owner.id!r}, which answers it first",
                                   "warning"))
    return out


def _page_problem(entry: Entry) -> str:
    """Why a procedure's link is not the address of its page ("" when it is)."""
    if not entry.link:
        return "no page address (link)"
    parts = urlsplit(entry.link)
    if not parts.path.strip("/"):
        return f"link {entry.link} is a home page, not the procedure's page"
    if parts.hostname == "dichvucong.gov.vn" and not parts.path.startswith("/thu-tuc-hanh-chinh/"):
        return f"link {entry.link} is not a procedure page (https://dichvucong.gov.vn/thu-tuc-hanh-chinh/…)"
    return ""


def _question_positions(path: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(entry id, question) -> position, for pointing warnings at the exact line."""
    tree, _ = read_yaml(Path(path))
    out: dict[tuple[str, str], tuple[int, int]] = {}
    if tree is None:
        return out
    nodes = [(tree, [])] if "entries" not in tree else [(e, ["entries", i]) for i, e in enumerate(tree["entries"])]
    for node, prefix in nodes:
        for j, q in enumerate(node.get("questions") or []):
            out[(str(node.get("id")), str(q))] = position(tree, [*prefix, "questions", j])
    return out


def findings(catalog: Catalog, today: dt.date, exact: bool = True) -> list[Problem]:
    """For a catalog that loads: an error per passed valid_until; warnings for shared phrasings, missing
    sources, codes and page addresses, stale reviews, missing ids.

    `exact=False` points shared phrasings at their entry's line rather than reading the files again for
    the phrasing's own line (the dashboard checks an edit this way; it shows no line numbers).
    """
    normalizer = Normalizer(catalog.lexicon)
    out: list[Problem] = []
    seen: dict[str, str] = {}
    positions: dict[str, dict] = {}
    for entry in catalog.entries.values():
        if entry.source_file not in positions:
            positions[entry.source_file] = _question_positions(entry.source_file) if exact else {}
        pos = positions[entry.source_file]
        for q in entry.questions:
            norm = normalizer(q)
            owner = seen.setdefault(norm, entry.id)
            if owner != entry.id:
                line, col = pos.get((entry.id, q), (entry.line, 1))
                out.append(Problem(entry.source_file, line, col,
                                   f"{entry.id}: phrasing {q!r} is also under {owner!r}", "warning"))
        if entry.kind != "intent" and not entry.sources:
            out.append(Problem(entry.source_file, entry.line, 1, f"{entry.id}: no source given", "warning"))
        if entry.reviewed and today - entry.reviewed > STALE_AFTER:
            out.append(Problem(entry.source_file, entry.line, 1,
                               f"{entry.id}: reviewed {entry.reviewed.isoformat()}, over 12 months ago", "warning"))
        if entry.valid_until and entry.valid_until < today:
            out.append(Problem(entry.source_file, entry.line, 1,
                               f"{entry.id}: valid_until {entry.valid_until.isoformat()} has passed"))
        if entry.kind == "procedure":
            if not entry.code:
                out.append(Problem(entry.source_file, entry.line, 1, f"{entry.id}: no procedure code (code)", "warning"))
            page = _page_problem(entry)
            if page:
                out.append(Problem(entry.source_file, entry.line, 1, f"{entry.id}: {page}", "warning"))
    first = str(catalog.files[0]) if catalog.files else "procedures.yaml"
    for missing in (i for i in REQUIRED_IDS if i not in catalog.entries):
        out.append(Problem(first, 1, 1, f"required id {missing!r} is missing", "warning"))
    return out
