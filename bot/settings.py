"""The engine's settings: where the catalog lives and the matcher's thresholds, read from the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of the matcher, tuned on the evaluation set."""

    answer: float = 0.32  # top score at or above: answer directly
    clarify: float = 0.27  # top score at or above (but below answer): ask back
    margin: float = 0.02  # top minus second below this: ask back even above `answer`


@dataclass(frozen=True)
class Settings:
    """Everything configurable about the engine (the web service has its own, in webhooks/settings.py)."""

    catalog_path: Path = ROOT / "procedures.yaml"
    intents_dir: Path = ROOT / "intents"
    # The national tier: the imported portal records and the aliases admins add (national/, in the repository).
    national_index: Path = ROOT / "national" / "index.jsonl"
    national_aliases: Path = ROOT / "national" / "aliases.yaml"
    thresholds: Thresholds = field(default_factory=Thresholds)
    communes_dir: Path = ROOT / "communes"  # one folder per commune: <slug>/commune.yaml (bot.overlay)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """Build settings from the environment (os.environ by default)."""
        env = os.environ if environ is None else environ
        t = Thresholds()
        values: dict[str, object] = dict(
            catalog_path=Path(env.get("BOT_CATALOG", str(ROOT / "procedures.yaml"))),
            intents_dir=Path(env.get("BOT_INTENTS", str(ROOT / "intents"))),
            national_index=Path(env.get("BOT_NATIONAL_INDEX", str(cls.national_index))),
            national_aliases=Path(env.get("BOT_NATIONAL_ALIASES", str(cls.national_aliases))),
            communes_dir=Path(env.get("BOT_COMMUNES_DIR", str(cls.communes_dir))),
            thresholds=Thresholds(
                answer=float(env.get("BOT_ANSWER_THRESHOLD", t.answer)),
                clarify=float(env.get("BOT_CLARIFY_THRESHOLD", t.clarify)),
                margin=float(env.get("BOT_MARGIN", t.margin)),
            ),
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
