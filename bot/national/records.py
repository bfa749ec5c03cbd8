"""The national tier's immutable records and the index that holds them."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from bot.text import clean

# What a reply may say when the portal's table settles no figure.
SEE_PAGE = "xem trang thủ tục"
CHANNEL_KINDS = ("Trực tiếp", "Trực tuyến", "Dịch vụ bưu chính")
ONLINE_LEVELS = ("toàn trình", "một phần", "không")
# Order of the keys in index.jsonl: fixed so that a regenerated index diffs line by line.
RECORD_KEYS = ("code", "name", "levels", "field", "applicants", "authority", "online", "channels",
               "time", "fee", "documents", "documents_more", "legal_basis", "url")


@dataclass(frozen=True)
class Issue:
    """Something the importer could not settle in one field of one record (it is counted, never dropped)."""

    field: str
    kind: str


@dataclass(frozen=True)
class Channel:
    """One way of filing: in person, online or by post, with its time and fee as a citizen reads them."""

    kind: str  # one of CHANNEL_KINDS
    time: str  # "7 ngày làm việc", or SEE_PAGE
    fee: str  # "Miễn phí", "50.000 đồng", or SEE_PAGE (a caveat may follow a figure)


@dataclass(frozen=True)
class NationalRecord:
    """A national procedure a citizen can bring to the commune or the province."""

    code: str  # mã TTHC, e.g. "1.001193"
    name: str
    levels: tuple[str, ...]  # "Cấp xã", "Cấp tỉnh", … as the portal lists them
    field: str  # lĩnh vực
    applicants: tuple[str, ...]
    authority: str  # plain words: "UBND xã", "Công an xã, Công an tỉnh", …
    online: str  # one of ONLINE_LEVELS
    channels: tuple[Channel, ...]
    time: str  # one-line summary over the channels
    fee: str  # one-line summary over the channels
    documents: tuple[str, ...]  # short names, the main case first
    legal_basis: tuple[str, ...]  # "Nghị định 123/2015/NĐ-CP"
    url: str  # https://dichvucong.gov.vn/thu-tuc-hanh-chinh/<uuid>, or "" when the source had none
    source_date: dt.date | None = None
    aliases: tuple[str, ...] = ()
    documents_more: int = 0  # document rows the short list leaves to the page

    def to_json(self) -> dict[str, Any]:
        """The record as one index line (without source_date and aliases, which live elsewhere)."""
        data = {
            "code": self.code, "name": self.name, "levels": list(self.levels), "field": self.field,
            "applicants": list(self.applicants), "authority": self.authority, "online": self.online,
            "channels": [{"kind": c.kind, "time": c.time, "fee": c.fee} for c in self.channels],
            "time": self.time, "fee": self.fee, "documents": list(self.documents),
            "documents_more": self.documents_more, "legal_basis": list(self.legal_basis), "url": self.url,
        }
        return {k: data[k] for k in RECORD_KEYS}

    @classmethod
    def from_json(cls, data: dict[str, Any], source_date: dt.date | None = None,
                  aliases: tuple[str, ...] = ()) -> "NationalRecord":
        """A record from an index line already checked against the schema."""
        return cls(
            code=data["code"], name=data["name"], levels=tuple(data["levels"]), field=data["field"],
            applicants=tuple(data["applicants"]), authority=data["authority"], online=data["online"],
            channels=tuple(Channel(c["kind"], c["time"], c["fee"]) for c in data["channels"]),
            time=data["time"], fee=data["fee"], documents=tuple(data["documents"]),
            legal_basis=tuple(data["legal_basis"]), url=data["url"], source_date=source_date,
            aliases=aliases, documents_more=int(data.get("documents_more", 0)),
        )


@dataclass(frozen=True)
class NationalIndex:
    """Every imported record (disabled ones left out), as the engine uses them."""

    records: dict[str, NationalRecord]  # by code, in index order (sorted by code)
    source_date: dt.date | None
    version: str  # content hash of the index and the aliases file
    source: str = ""  # the portal file the index was generated from
    disabled: dict[str, str] = field(default_factory=dict)  # code -> the admin's reason

    def get(self, code: str) -> NationalRecord | None:
        """The record with this code, if imported and not disabled."""
        return self.records.get(code)

    def search(self, query: str, limit: int = 50) -> list[NationalRecord]:
        """Records whose code, name or an alias contains every word of `query` (diacritics ignored)."""
        words = clean(query).split()
        if not words:
            return []
        out = []
        for record, haystack in self._haystacks:
            if all(w in haystack for w in words):
                out.append(record)
                if len(out) >= limit:
                    break
        return out

    @cached_property
    def _haystacks(self) -> list[tuple[NationalRecord, str]]:
        return [(r, " " + clean(" ".join((r.code, r.name, *r.aliases))) + " ") for r in self.records.values()]
