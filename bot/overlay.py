"""A commune's layer over the province catalog: communes/<slug>/commune.yaml (facts, overrides, extra, disabled).

The province catalog (procedures.yaml + intents/ + the national index) is shared by every commune. A
commune's file holds its `commune:` facts, `overrides` of single fields of shared entries (a fee, a
local address), extra `entries` written like those of procedures.yaml, and `disabled` entry ids.
Problems come back as a CatalogError in the catalog's format (file:line:col: message).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from bot import schema
from bot.catalog import Catalog, CatalogError, Entry, MenuOption, _commune, _entry
from bot.hours import HoursError
from bot.yaml_source import Problem, plain, position, read_yaml, validate

OVERLAY_FILE = "commune.yaml"
# Entries a commune cannot switch off: the emergency answer and the menu behind the welcome.
ALWAYS_ON = frozenset({"khan-cap", "menu"})
_TUPLE_FIELDS = frozenset({"documents", "steps"})


def overlay_path(communes_dir: Path, slug: str) -> Path:
    """Where the layer of commune `slug` lives."""
    return Path(communes_dir) / slug / OVERLAY_FILE


def load_overlay(path: Path, base: Catalog) -> Catalog:
    """The province catalog `base` with the commune's layer at `path` applied; CatalogError on any problem."""
    tree, problems = read_yaml(path)
    if tree is not None:
        problems += validate(tree, schema.OVERLAY, path)
    if problems:
        raise CatalogError(problems)
    where = str(path)

    def problem(keys: list[Any], message: str) -> None:
        line, col = position(tree, keys)
        problems.append(Problem(where, line, col, message))

    try:
        commune = _commune(tree["commune"])
    except HoursError as exc:
        problem(["commune", "hours"], f"commune/hours: {exc}")
    entries: dict[str, Entry] = dict(base.entries)
    disabled = [str(d) for d in tree.get("disabled") or ()]
    for n, entry_id in enumerate(disabled):
        if entry_id in ALWAYS_ON:
            problem(["disabled", n], f"disabled/{n}: {entry_id!r} cannot be disabled")
        elif entries.pop(entry_id, None) is None:
            problem(["disabled", n], f"disabled/{n}: unknown entry {entry_id!r}")
    for entry_id, fields in (tree.get("overrides") or {}).items():
        entry = entries.get(str(entry_id))
        if entry is None:
            problem(["overrides", entry_id], f"overrides/{entry_id}: unknown or disabled entry")
            continue
        values = {k: tuple(v) if k in _TUPLE_FIELDS else str(v) for k, v in plain(fields).items()}
        entries[entry.id] = dataclasses.replace(entry, **values)
    for i, node in enumerate(tree.get("entries") or ()):
        added = _entry(node, path, position(tree, ["entries", i])[0])
        if added.id in entries or added.id in disabled:
            problem(["entries", i, "id"], f"entries/{i}/id: duplicate id {added.id!r} (the province catalog has it)")
        entries[added.id] = added
    if problems:
        raise CatalogError(problems)
    digest = hashlib.sha256(base.version.encode() + path.read_bytes()).hexdigest()[:12]
    return dataclasses.replace(base, entries=entries, commune=commune, version=digest,
                               files=(*base.files, path), menu=_menu(base.menu, entries))


def _menu(menu: tuple[MenuOption, ...], entries: dict[str, Entry]) -> tuple[MenuOption, ...]:
    # A disabled entry leaves the menu; a line left with nothing to choose goes too.
    kept = (MenuOption(o.title, tuple(e for e in o.entries if e in entries)) for o in menu)
    return tuple(o for o in kept if o.entries)
