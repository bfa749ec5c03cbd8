"""Channel-neutral reply objects: text plus at most four buttons."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

MAX_TEXT = 2000
MAX_BUTTONS = 4
MAX_BUTTON_TITLE = 100
MAX_QUERY_PAYLOAD = 1000


def nfc_len(text: str) -> int:
    """Length of text as Zalo counts it (after NFC)."""
    return len(unicodedata.normalize("NFC", text))


def shorten(text: str, limit: int) -> str:
    """NFC text cut to at most `limit` characters, at a line or word boundary when possible."""
    text = unicodedata.normalize("NFC", text)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for sep in ("\n", " "):
        pos = cut.rfind(sep)
        if pos > limit * 0.6:
            cut = cut[:pos]
            break
    return cut.rstrip() + "…"


@dataclass(frozen=True)
class Button:
    """A button: open a URL, or send a query back as if the citizen typed it."""

    title: str
    kind: Literal["url", "query"]
    value: str

    def __post_init__(self) -> None:
        if self.kind not in ("url", "query"):
            raise ValueError(f"unknown button kind {self.kind!r}")
        object.__setattr__(self, "title", shorten(self.title, MAX_BUTTON_TITLE))
        if self.kind == "query" and nfc_len(self.value) > MAX_QUERY_PAYLOAD:
            raise ValueError("query payload over 1,000 characters")


@dataclass(frozen=True)
class Reply:
    """One outgoing message; text is NFC and within the channel limit."""

    text: str
    buttons: tuple[Button, ...] = ()
    # "ask_info": the channel's form asking the user to share name and phone (first line: its title).
    form: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", shorten(self.text, MAX_TEXT))
        if len(self.buttons) > MAX_BUTTONS:
            raise ValueError(f"at most {MAX_BUTTONS} buttons, got {len(self.buttons)}")

    def to_dict(self) -> dict[str, object]:
        """Plain-data form, for JSON output and storage."""
        data: dict[str, object] = {"text": self.text, "buttons": [b.__dict__.copy() for b in self.buttons]}
        if self.form:
            data["form"] = self.form
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Reply":
        """Inverse of to_dict."""
        return cls(text=data["text"], buttons=tuple(Button(**b) for b in data.get("buttons", [])),
                   form=data.get("form"))
