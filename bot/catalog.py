"""Load and validate the catalog (procedures.yaml + intents/) into immutable objects."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import schema
from bot.hours import HoursError, OfficeHours
from bot.text import fold
from bot.yaml_source import Problem, plain, position, read_yaml, validate


LEXICON_FILE = "lexicon.yaml"
OUT_OF_SCOPE_FILE = "out-of-scope.yaml"  # phrasings the bot must not answer
DIALOGUE_FILE = "dialogue.yaml"  # short conversational words: acknowledgements, corrections, leaving a hand-over
PARTS = ("documents", "steps", "fee", "processing_time", "where", "online")


class CatalogError(Exception):
    """The catalog cannot be loaded; nothing of it is used."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Entry:
    """A procedure, an FAQ or a conversational intent."""

    id: str
    kind: str  # procedure | faq | intent
    title: str
    questions: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    summary: str = ""
    answer: str = ""
    authority: str = ""
    where: str = ""
    documents: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    fee: str = ""
    processing_time: str = ""
    online: str = ""
    link: str = ""
    code: str = ""
    notes: str = ""
    legal_basis: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    reviewed: dt.date | None = None
    valid_until: dt.date | None = None
    source_file: str = ""
    line: int = 0


@dataclass(frozen=True)
class ServicePoint:
    """A place where staff help citizens file online."""

    name: str
    address: str
    latitude: float
    longitude: float
    hours: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Commune:
    """Local facts the commune admin fills in."""

    name: str
    address: str
    hours: str  # as citizens read it
    phone: str
    tech_team: tuple[dict, ...] = ()
    service_points: tuple[ServicePoint, ...] = ()
    province: str = ""
    email: str = ""
    portal: str = "https://dichvucong.gov.vn"
    example: bool = False
    police_phone: str = ""
    office: OfficeHours = field(default_factory=lambda: OfficeHours(""))  # when staff are in


@dataclass(frozen=True)
class MenuOption:
    """One numbered line of the menu and the entries a citizen picking it chooses from."""

    title: str
    entries: tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    """Admin-extensible words: abbreviations, synonyms, strong terms, stopwords (all folded)."""

    abbreviations: dict[str, str] = field(default_factory=dict)
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    terms: dict[str, str] = field(default_factory=dict)
    stopwords: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Catalog:
    """The whole catalog, loaded and validated."""

    entries: dict[str, Entry]
    commune: Commune
    lexicon: Lexicon
    version: str  # content hash of the files it was loaded from
    files: tuple[Path, ...] = ()
    out_of_scope: tuple[str, ...] = ()  # clearly outside the bot's field: a polite line, not queued
    near_domain: tuple[str, ...] = ()  # real services without a guide: fall back and queue for staff
    emergency: dict = field(default_factory=dict)  # khan-cap's `numbers` and `signals` (bot.safety)
    menu: tuple[MenuOption, ...] = ()
    dialogue: dict = field(default_factory=dict)  # intents/dialogue.yaml

    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, if any."""
        return self.entries.get(entry_id)

    def of_kind(self, *kinds: str) -> list[Entry]:
        """Entries of the given kinds, in file order."""
        return [e for e in self.entries.values() if e.kind in kinds]


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    return None


def _entry(data: dict, source: Path, line: int) -> Entry:
    values = plain(data)
    tuples = {k: tuple(values.get(k) or ()) for k in ("questions", "keywords", "documents", "steps", "legal_basis", "sources")}
    scalars = {k: str(values.get(k) or "") for k in (
        "summary", "answer", "authority", "where", "fee", "processing_time", "online", "link", "code", "notes")}
    return Entry(
        id=values["id"], kind=values["kind"], title=values["title"], **tuples, **scalars,
        reviewed=_date(values.get("reviewed")), valid_until=_date(values.get("valid_until")),
        source_file=str(source), line=line,
    )


def _commune(data: dict) -> Commune:
    d = plain(data)
    points = tuple(ServicePoint(**p) for p in d.get("service_points", []))
    hours = d["hours"]
    text, weekly = (hours, None) if isinstance(hours, str) else (hours["text"], hours["open"])
    return Commune(
        name=d["name"], address=d["address"], hours=text, phone=d["phone"],
        tech_team=tuple(d.get("tech_team", [])), service_points=points,
        province=d.get("province", ""), email=d.get("email", ""),
        portal=d.get("portal", "https://dichvucong.gov.vn"), example=bool(d.get("example", False)),
        police_phone=d.get("police_phone", ""), office=OfficeHours.parse(text, weekly),
    )


def _lexicon(data: dict | None) -> Lexicon:
    d = plain(data or {})
    return Lexicon(
        abbreviations={fold(k): fold(v) for k, v in (d.get("abbreviations") or {}).items()},
        synonyms={fold(k): tuple(fold(v) for v in vs) for k, vs in (d.get("synonyms") or {}).items()},
        terms={fold(k): v for k, v in (d.get("terms") or {}).items()},
        stopwords=frozenset(fold(w) for w in d.get("stopwords") or ()),
    )


def load_catalog(catalog_path: Path, intents_dir: Path) -> Catalog:
    """Load and validate everything; raise CatalogError listing every problem (never half-load)."""
    problems: list[Problem] = []
    digest = hashlib.sha256()
    entries: dict[str, Entry] = {}
    files: list[Path] = [catalog_path]

    def add(entry: Entry, node: Any) -> None:
        if entry.id in entries:
            first = entries[entry.id]
            line, col = position(node, ["id"])
            problems.append(Problem(entry.source_file, line, col,
                                    f"duplicate id {entry.id!r} (first at {first.source_file}:{first.line})"))
        else:
            entries[entry.id] = entry

    tree, errs = read_yaml(catalog_path)
    problems += errs
    commune = None
    if tree is not None:
        digest.update(catalog_path.read_bytes())
        errs = validate(tree, schema.CATALOG, catalog_path)
        problems += errs
        if not errs:
            try:
                commune = _commune(tree["commune"])
            except HoursError as exc:
                line, col = position(tree, ["commune", "hours"])
                problems.append(Problem(str(catalog_path), line, col, f"commune/hours: {exc}"))
            for i, node in enumerate(tree["entries"]):
                add(_entry(node, catalog_path, position(tree, ["entries", i])[0]), node)

    lexicon_tree = None
    special = {LEXICON_FILE: schema.LEXICON, OUT_OF_SCOPE_FILE: schema.OUT_OF_SCOPE, DIALOGUE_FILE: schema.DIALOGUE}
    intent_files = sorted(p for p in Path(intents_dir).glob("*.yaml") if p.name not in special)
    lexicon_path = Path(intents_dir) / LEXICON_FILE
    negatives: tuple[str, ...] = ()
    near_domain: tuple[str, ...] = ()
    extras: dict[str, Any] = {}
    dialogue: dict[str, Any] = {}
    extra = [Path(intents_dir) / name for name in special if (Path(intents_dir) / name).exists()]
    for path in intent_files + extra:
        files.append(path)
        node, errs = read_yaml(path)
        problems += errs
        if node is None:
            continue
        digest.update(path.read_bytes())
        kind = special.get(path.name) or schema.SPECIAL_INTENTS.get(str(node.get("id")), schema.INTENT)
        errs = validate(node, kind, path)
        problems += errs
        if errs:
            continue
        if path.name == LEXICON_FILE:
            lexicon_tree = node
        elif path.name == OUT_OF_SCOPE_FILE:
            negatives = tuple(str(q) for q in node["questions"])
            near_domain = tuple(str(q) for q in node.get("near_domain") or ())
        elif path.name == DIALOGUE_FILE:
            dialogue = plain(node)
        else:
            data = plain(node)
            extras[data["id"]] = {k: v for k, v in data.items() if k in ("numbers", "signals", "options")}
            add(_entry({k: v for k, v in node.items() if k not in ("numbers", "signals", "options")}, path, 1), node)

    if lexicon_tree is not None and not problems:
        for term, target in lexicon_tree.get("terms", {}).items():
            if target not in entries:
                line, col = lexicon_tree["terms"].lc.value(term)
                problems.append(Problem(str(lexicon_path), line + 1, col + 1,
                                        f"terms/{term}: unknown intent {target!r}"))
    emergency = extras.get("khan-cap", {})
    for n, danger in enumerate(emergency.get("signals", {}).get("dangers", ())):
        for number in _calls(danger["call"]):
            if number not in emergency["numbers"]:
                problems.append(Problem(entries["khan-cap"].source_file, 1, 1,
                                        f"signals/dangers/{n}/call: {number} is not listed under numbers"))
    menu = tuple(MenuOption(o["title"], tuple(o["entries"])) for o in extras.get("menu", {}).get("options", ()))
    for n, option in enumerate(menu):
        for entry_id in option.entries:
            if entry_id not in entries:
                problems.append(Problem(entries["menu"].source_file, 1, 1,
                                        f"options/{n}/entries: unknown entry {entry_id!r}"))
    if problems:
        raise CatalogError(problems)
    assert commune is not None
    return Catalog(entries=entries, commune=commune, lexicon=_lexicon(lexicon_tree),
                   version=digest.hexdigest()[:12], files=tuple(files), out_of_scope=negatives,
                   near_domain=near_domain, emergency=emergency, menu=menu, dialogue=dialogue)


def _calls(call: str | list[str]) -> list[str]:
    """A danger's `call`: one number or several, best first."""
    return [call] if isinstance(call, str) else list(call)
