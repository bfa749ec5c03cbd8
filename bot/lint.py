"""Check the catalog: schema errors with positions, plus warnings admins should act on."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.catalog import Catalog, CatalogError, load_catalog
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


def lint(catalog_path: Path, intents_dir: Path, today: dt.date | None = None) -> list[Problem]:
    """All errors (catalog does not load) or else all warnings, each with file:line:column."""
    try:
        catalog = load_catalog(Path(catalog_path), Path(intents_dir))
    except CatalogError as exc:
        return exc.problems
    return warnings(catalog, today or dt.date.today())


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


def warnings(catalog: Catalog, today: dt.date) -> list[Problem]:
    """Warnings for a catalog that loads: shared phrasings, missing sources, stale reviews, missing ids."""
    normalizer = Normalizer(catalog.lexicon)
    out: list[Problem] = []
    seen: dict[str, str] = {}
    positions: dict[str, dict] = {}
    for entry in catalog.entries.values():
        if entry.source_file not in positions:
            positions[entry.source_file] = _question_positions(entry.source_file)
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
                               f"{entry.id}: valid_until {entry.valid_until.isoformat()} has passed", "warning"))
    first = str(catalog.files[0]) if catalog.files else "procedures.yaml"
    for missing in (i for i in REQUIRED_IDS if i not in catalog.entries):
        out.append(Problem(first, 1, 1, f"required id {missing!r} is missing", "warning"))
    return out
