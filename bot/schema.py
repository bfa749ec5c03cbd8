"""JSON Schemas of the catalog files (procedures.yaml, intents/*.yaml, intents/lexicon.yaml)."""
from __future__ import annotations

DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
TEXT = {"type": "string", "minLength": 1}
TEXT_LIST = {"type": "array", "items": TEXT}
SLUG = {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"}
URL = {"type": "string", "pattern": r"^https?://\S+$"}
ONLINE = {"enum": ["toàn trình", "một phần", "không"]}

_COMMON = {
    "id": SLUG,
    "title": TEXT,
    "questions": {"type": "array", "items": TEXT, "minItems": 6},
    "keywords": TEXT_LIST,
    "summary": TEXT,
    "legal_basis": TEXT_LIST,
    "sources": TEXT_LIST,
    "reviewed": DATE,
    "notes": TEXT,
    "link": URL,
}

PROCEDURE = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "id", "kind", "title", "questions", "keywords", "summary", "authority", "documents", "steps",
        "fee", "processing_time", "online", "link", "legal_basis", "sources", "reviewed",
    ],
    "properties": {
        **_COMMON,
        "kind": {"const": "procedure"},
        "code": TEXT,
        "authority": TEXT,
        "documents": {"type": "array", "items": TEXT, "minItems": 1},
        "steps": {"type": "array", "items": TEXT, "minItems": 1},
        "fee": TEXT,
        "processing_time": TEXT,
        "online": ONLINE,
        "where": TEXT,
        "valid_until": DATE,
    },
}

FAQ = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "kind", "title", "questions", "keywords", "summary", "answer", "legal_basis", "sources", "reviewed"],
    "properties": {
        **_COMMON,
        "kind": {"const": "faq"},
        "answer": TEXT,
        "steps": TEXT_LIST,
        "valid_until": DATE,
    },
}

HOURS = {
    "oneOf": [
        TEXT,  # free text only: the bot cannot tell when staff will be in
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["text", "open"],
            "properties": {
                "text": TEXT,  # what citizens read
                # "T2-T6": ["07:30-11:30", "13:30-17:00"], "T7": ["07:30-11:30"]
                "open": {
                    "type": "object",
                    "propertyNames": {"pattern": r"^(T[2-7]|CN)(-(T[2-7]|CN))?$"},
                    "additionalProperties": {
                        "type": "array", "minItems": 1,
                        "items": {"type": "string", "pattern": r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$"},
                    },
                },
            },
        },
    ],
}

SERVICE_POINT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "address", "latitude", "longitude"],
    "properties": {
        "name": TEXT,
        "address": TEXT,
        "hours": TEXT,
        "phone": TEXT,
        "latitude": {"type": "number", "minimum": -90, "maximum": 90},
        "longitude": {"type": "number", "minimum": -180, "maximum": 180},
    },
}

COMMUNE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "address", "hours", "phone", "tech_team", "service_points"],
    "properties": {
        "example": {"type": "boolean"},
        "name": TEXT,
        "province": TEXT,
        "address": TEXT,
        "hours": HOURS,
        "phone": TEXT,
        "police_phone": TEXT,  # Công an xã: named in the emergency reply
        "email": TEXT,
        "portal": URL,
        "tech_team": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "phone"],
                "properties": {"name": TEXT, "role": TEXT, "phone": TEXT, "area": TEXT},
            },
        },
        "service_points": {"type": "array", "items": SERVICE_POINT, "minItems": 1},
    },
}

CATALOG = {
    "type": "object",
    "additionalProperties": False,
    "required": ["commune", "entries"],
    "properties": {
        "version": {"type": ["integer", "string"]},
        "commune": COMMUNE,
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind"],
                "properties": {"kind": {"enum": ["procedure", "faq"]}},
                "if": {"properties": {"kind": {"const": "procedure"}}},
                "then": PROCEDURE,
                "else": FAQ,
            },
        },
    },
}

INTENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "kind", "title", "questions", "answer", "reviewed"],
    "properties": {
        "id": SLUG,
        "kind": {"const": "intent"},
        "title": TEXT,
        "questions": {"type": "array", "items": TEXT, "minItems": 6},
        "keywords": TEXT_LIST,
        "answer": TEXT,
        "sources": TEXT_LIST,
        "reviewed": DATE,
        "notes": TEXT,
    },
}

LEXICON = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        # folded token -> folded expansion ("cccd" -> "can cuoc cong dan", "ko" -> "khong")
        "abbreviations": {"type": "object", "additionalProperties": TEXT},
        # canonical phrase -> variants rewritten to it ("so do": ["so hong", "bia do"])
        "synonyms": {"type": "object", "additionalProperties": TEXT_LIST},
        # phrase -> entry id it strongly suggests ("ho khau": thuong-tru)
        "terms": {"type": "object", "additionalProperties": SLUG},
        # words that carry no meaning for matching ("a", "oi", "nhe")
        "stopwords": TEXT_LIST,
    },
}

OUT_OF_SCOPE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "questions"],
    "properties": {
        "kind": {"const": "out_of_scope"},
        "questions": TEXT_LIST,  # clearly outside (weather, football): one polite line, not queued
        "near_domain": TEXT_LIST,  # real services the bot has no guide for: fallback, queued for staff
        "reviewed": DATE,
    },
}

PHRASES = {"type": "array", "items": TEXT, "minItems": 1}

DIALOGUE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "acknowledgements", "acknowledgement_reply", "corrections", "leave_handoff",
                 "out_of_scope_reply"],
    "properties": {
        "kind": {"const": "dialogue"},
        "acknowledgements": PHRASES,
        "acknowledgement_reply": TEXT,
        "corrections": PHRASES,
        "leave_handoff": PHRASES,
        "out_of_scope_reply": TEXT,
        "reviewed": DATE,
    },
}
NUMBER = {"type": "string", "pattern": r"^1\d\d$"}
# The number to call first for a danger, or several in order (each one listed under `numbers`).
CALL = {"oneOf": [NUMBER, {"type": "array", "minItems": 1, "items": NUMBER}]}

EMERGENCY = {
    "type": "object",
    "additionalProperties": False,
    "required": [*INTENT["required"], "numbers", "signals"],
    "properties": {
        **INTENT["properties"],
        "numbers": {"type": "object", "required": ["113", "114", "115"], "propertyNames": {"pattern": r"^1\d\d$"},
                    "additionalProperties": TEXT},
        "signals": {
            "type": "object",
            "additionalProperties": False,
            "required": ["dangers", "help", "urgent", "not_now", "paperwork", "figurative"],
            "properties": {
                "dangers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["name", "call", "phrases"],
                    "properties": {"name": TEXT, "call": CALL, "phrases": PHRASES}}},
                **{name: PHRASES for name in ("help", "urgent", "intense", "not_now", "paperwork", "figurative",
                                              "vetoes", "jokes")},
                "abbreviations": {"type": "object", "additionalProperties": TEXT},
            },
        },
    },
}

# national/aliases.yaml: what admins add to the imported national index, per procedure code.
NATIONAL_CODE = {"type": "string", "pattern": r"^\d\.\d{6}$"}
NATIONAL_ALIASES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["entries"],
    "properties": {
        "version": {"type": ["integer", "string"]},
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code"],
                "properties": {
                    "code": NATIONAL_CODE,
                    "aliases": {"type": "array", "items": {"type": "string", "minLength": 2, "maxLength": 80}},
                    "disabled": {"type": "boolean"},
                    "reason": TEXT,
                    "note": TEXT,
                },
                # A record is switched off only with the admin's reason next to it.
                "if": {"properties": {"disabled": {"const": True}}, "required": ["disabled"]},
                "then": {"required": ["reason"]},
            },
        },
    },
}

MENU = {
    "type": "object",
    "additionalProperties": False,
    "required": [*INTENT["required"], "options"],
    "properties": {
        **INTENT["properties"],
        # The numbered menu: each option lists the entries a citizen picking its number chooses from.
        "options": {"type": "array", "minItems": 1, "maxItems": 9, "items": {
            "type": "object", "additionalProperties": False, "required": ["title", "entries"],
            "properties": {"title": TEXT, "entries": {"type": "array", "minItems": 1, "maxItems": 9, "items": SLUG}}}},
    },
}

# Intents whose file carries more than phrasings and an answer.
SPECIAL_INTENTS = {"khan-cap": EMERGENCY, "menu": MENU}

# Fields a commune may set on a shared entry: what it says, never how it is found (title, questions,
# keywords), so the commune's engine keeps sharing the province's matcher.
OVERRIDE = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "summary": TEXT, "answer": TEXT, "authority": TEXT, "where": TEXT, "fee": TEXT, "processing_time": TEXT,
        "online": ONLINE, "link": URL, "notes": TEXT,
        "documents": {"type": "array", "items": TEXT, "minItems": 1},
        "steps": {"type": "array", "items": TEXT, "minItems": 1},
    },
}

# communes/<slug>/commune.yaml: one commune's layer over the province catalog.
OVERLAY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["commune"],
    "properties": {
        "commune": COMMUNE,
        "overrides": {"type": "object", "propertyNames": SLUG, "additionalProperties": OVERRIDE},
        "entries": CATALOG["properties"]["entries"],
        "disabled": {"type": "array", "items": SLUG},
    },
}
