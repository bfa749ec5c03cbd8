"""national/aliases.yaml: citizens' short names for national procedures, and records admins switch off."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot import schema
from bot.normalize import clean
from bot.yaml_source import Problem, position, read_yaml, validate


@dataclass(frozen=True)
class AliasEntry:
    """One `- code:` block of the aliases file."""

    code: str
    aliases: tuple[str, ...]
    disabled: bool
    reason: str
    line: int  # of the block's `code:` key
    alias_positions: tuple[tuple[int, int], ...]  # (line, column) of each alias


def read_aliases(path: Path) -> tuple[list[AliasEntry], list[Problem]]:
    """Entries of the file and every problem with its position (entries only when there is none)."""
    tree, problems = read_yaml(path)
    if tree is None:
        return [], problems
    for i, node in enumerate(tree.get("entries") or [] if isinstance(tree, dict) else []):
        code = node.get("code") if isinstance(node, dict) else None
        if code is not None and not isinstance(code, str):
            line, col = position(tree, ["entries", i, "code"])
            problems.append(Problem(str(path), line, col,
                                    f'entries/{i}/code: write the code in quotes, e.g. code: "1.001193"'))
    problems += validate(tree, schema.NATIONAL_ALIASES, path)
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
        aliases = [str(a).strip() for a in node.get("aliases") or []]
        where = tuple(position(tree, ["entries", i, "aliases", j]) for j in range(len(aliases)))
        for alias, (a_line, a_col) in zip(aliases, where):
            key = clean(alias)
            if key in owner and owner[key][0] != code:
                problems.append(Problem(str(path), a_line, a_col,
                                        f"alias {alias!r} is also under {owner[key][0]} (line {owner[key][1]})"))
            owner.setdefault(key, (code, a_line))
        entries.append(AliasEntry(code=code, aliases=tuple(dict.fromkeys(aliases)), disabled=bool(node.get("disabled")),
                                  reason=str(node.get("reason") or ""), line=line, alias_positions=where))
    return (entries if not problems else []), problems
