"""national/aliases.yaml: citizens' short names for national procedures, and records admins switch off."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot import schema
from bot.text import clean
from bot.yaml_source import Problem, position, read_yaml, validate


@dataclass(frozen=True)
class AliasEntry:
    """One `- code:` block of the aliases file."""

    code: str
    aliases: tuple[str, ...]
    disabled: bool
    reason: str
    line: int  # position of the block's `code:` key
    column: int
    alias_positions: tuple[tuple[int, int], ...]  # (line, column) of each alias


def read_aliases(path: Path) -> tuple[list[AliasEntry], list[Problem]]:
    """Entries of the file and every problem with its position (entries only when there is none)."""
    tree, problems = read_yaml(path)
    if tree is None:
        return [], problems
    hinted = set()
    for i, node in enumerate(tree.get("entries") or [] if isinstance(tree, dict) else []):
        code = node.get("code") if isinstance(node, dict) else None
        if code is not None and not isinstance(code, str):
            # YAML reads 1.001193 as a number (and 1.000110 as 1.00011): say how to fix it, not only the type.
            line, col = position(tree, ["entries", i, "code"])
            problems.append(Problem(str(path), line, col,
                                    f'entries/{i}/code: write the code in quotes, e.g. code: "1.001193"'))
            hinted.add(f"entries/{i}/code:")
    problems += [p for p in validate(tree, schema.NATIONAL_ALIASES, path)
                 if not any(p.message.startswith(h) for h in hinted)]
    if problems:
        return [], problems
    entries: list[AliasEntry] = []
    first: dict[str, int] = {}
    owner: dict[str, tuple[str, int]] = {}
    for i, node in enumerate(tree["entries"]):
        code = str(node["code"])
        line, col = position(tree, ["entries", i, "code"])
        if code in first:
            problems.append(Problem(str(path), line, col, f"code {code} is listed twice (first at line {first[code]})"))
            continue
        first[code] = line
        kept: dict[str, tuple[int, int]] = {}
        for j, value in enumerate(node.get("aliases") or []):
            alias, (a_line, a_col) = str(value).strip(), position(tree, ["entries", i, "aliases", j])
            key = clean(alias)
            if key in owner and owner[key][0] != code:
                problems.append(Problem(str(path), a_line, a_col,
                                        f"alias {alias!r} is also under {owner[key][0]} (line {owner[key][1]})"))
            owner.setdefault(key, (code, a_line))
            kept.setdefault(alias, (a_line, a_col))
        entries.append(AliasEntry(code=code, aliases=tuple(kept), disabled=bool(node.get("disabled")),
                                  reason=str(node.get("reason") or ""), line=line, column=col,
                                  alias_positions=tuple(kept.values())))
    return (entries if not problems else []), problems
