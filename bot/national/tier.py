"""The national records as a second matching tier beside the curated catalog."""
from __future__ import annotations

import re
from typing import Iterable

from bot.catalog import Entry
from bot.matcher import Match, Matcher
from bot.national.records import NationalIndex, NationalRecord
from bot.normalize import Normalizer
from bot.settings import Thresholds


# Words of a record's name that say how or where it is filed, not what it is: they only dilute the match.
_FILING = re.compile(r"\((?:thực hiện |thực hiện ở |thực hiện tại )?cấp [^)]*\)|(?:thực hiện )?bằng dịch vụ công trực tuyến.*$"
                     r"|thực hiện tại cấp .*$", re.IGNORECASE)


def matching_name(name: str) -> str:
    """The part of a record's name that says what the procedure is."""
    return " ".join(_FILING.sub(" ", name).split()) or name


class NationalTier:
    """An index over the records' names and aliases; candidates are procedure codes."""

    def __init__(self, index: NationalIndex, normalizer: Normalizer, negatives: Iterable[str] = (),
                 off_topic: Iterable[str] = ()):
        self.index = index
        self.records = index.records
        # A record is matched like an entry: its official name is its title, admins' aliases its phrasings.
        entries = [Entry(id=r.code, kind="national", title=matching_name(r.name), questions=r.aliases)
                   for r in index.records.values()]
        self.matcher = Matcher(entries, normalizer, negatives=negatives, off_topic=off_topic)

    def match(self, text: str, thresholds: Thresholds) -> Match:
        """The best records for `text` (the matcher's decision is not used: the arbiter decides)."""
        return self.matcher.match(text, thresholds, limit=5)

    def get(self, code: str) -> NationalRecord | None:
        """The record with this code."""
        return self.records.get(code)
