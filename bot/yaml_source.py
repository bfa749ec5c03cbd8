"""Reading the catalog's YAML: round-trip parsing with positions, schema errors at their line."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError


@dataclass(frozen=True)
class Problem:
    """A lint finding, reported as file:line:column: message."""

    path: str
    line: int
    column: int
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else "warning: "
        return f"{self.path}:{self.line}:{self.column}: {tag}{self.message}"


def yaml_loader() -> YAML:
    """Round-trip YAML (keeps line numbers, comments and order)."""
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096
    # The shipped files' style ("  - id:" under a key): an edit must not reformat the whole file.
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def plain(node: Any) -> Any:
    """ruamel tree -> plain Python, with dates as ISO strings for the schema."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, (dt.date, dt.datetime)):
        return node.isoformat()[:10]
    return node


def position(tree: Any, path: Iterable[Any]) -> tuple[int, int]:
    """1-based (line, column) of the node at `path` in a ruamel tree, or its nearest parent."""
    line, col, node = 0, 0, tree
    for key in path:
        try:
            if isinstance(node, CommentedMap) and key in node:
                line, col = node.lc.key(key)
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
                line, col = node.lc.item(key)
            else:
                break
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    if (line, col) == (0, 0) and hasattr(tree, "lc"):
        line, col = tree.lc.line, tree.lc.col
    return line + 1, col + 1


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """Parse one YAML file; syntax errors come back as problems with their position."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), 1, 1, f"cannot read file: {exc}")]
    try:
        return yaml_loader().load(text), []
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Problem(str(path), line, col, f"YAML syntax error: {exc.problem or exc}")]
    except Exception as exc:  # ruamel raises a few non-marked errors (e.g. duplicate keys)
        return None, [Problem(str(path), 1, 1, f"YAML error: {exc}")]


def validate(tree: Any, schema_: dict, path: Path) -> list[Problem]:
    """Schema problems of a parsed file, each at the line of the offending node."""
    validator = jsonschema.Draft202012Validator(schema_)
    problems = []
    for err in sorted(validator.iter_errors(plain(tree)), key=lambda e: list(map(str, e.absolute_path))):
        # if/then errors point at the entry; the innermost error is the useful one
        leaf = min(err.context, key=lambda e: -len(e.absolute_path)) if err.context else err
        where = "/".join(str(p) for p in leaf.absolute_path) or "(top)"
        line, col = position(tree, leaf.absolute_path)
        problems.append(Problem(str(path), line, col, f"{where}: {leaf.message}"))
    return problems
