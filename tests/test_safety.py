"""Emergency detection from evidence: dangers now, calls for help, and what argues against them."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.catalog import load_catalog
from bot.normalize import Normalizer
from bot.safety import EmergencyDetector, Phrase, Token, same_word, tone_key

ROOT = Path(__file__).resolve().parent.parent

SIGNALS = {
    "dangers": [
        {"name": "cháy", "call": "114", "phrases": ["cháy nhà", "=đang cháy", "nhà * cháy"]},
        {"name": "thương tích", "call": "115", "phrases": ["chảy máu", "=xỉu", "té xỉu"]},
        {"name": "bạo lực", "call": "113", "phrases": ["đánh nhau"]},
    ],
    "help": ["cứu", "sos"],
    "urgent": ["đang"],
    "not_now": ["năm ngoái"],
    "paperwork": ["làm lại", "hồ sơ"],
    "figurative": ["cháy túi", "tra cứu"],
}


@pytest.fixture(scope="module")
def detector() -> EmergencyDetector:
    return EmergencyDetector(SIGNALS, {"ko": "không"})


@pytest.mark.parametrize("typed, pattern, exact, same", [
    ("chay", "cháy", False, True),      # typed bare: every accented reading
    ("chạy", "cháy", False, False),     # typed with accents: only itself
    ("cháy", "cháy", False, True),
    ("xiu", "xỉu", True, False),        # an exact phrase needs the accents typed
    ("xỉu", "xỉu", True, True),
    ("sos", "sos", True, True),
])
def test_same_word(typed, pattern, exact, same):
    from bot.text import fold

    assert same_word(Token(tone_key(typed), fold(typed)), tone_key(pattern), exact=exact) is same


@pytest.mark.parametrize("text, emergency, calls", [
    ("cháy nhà rồi", True, ("114", "113", "115")),
    ("chay nha", True, ("114", "113", "115")),
    ("nhà bác tư đang cháy", True, ("114", "113", "115")),     # gap: "nhà * cháy"
    ("xe dang chay", False, ()),                                # "=đang cháy" needs accents
    ("đánh nhau có người chảy máu", True, ("113", "115", "114")),  # the numbers in the order the dangers appear
    ("cứu", True, ("113", "114", "115")),
    ("cuuuu", True, ("113", "114", "115")),                    # letters typed over and over
    ("SOS!!!", True, ("113", "114", "115")),
    ("cháy túi rồi", False, ()),                                # figurative
    ("tra cứu hồ sơ", False, ()),                               # "cứu" inside a figurative phrase
    ("cháy nhà năm ngoái, làm lại sổ đỏ", False, ()),           # past + paperwork
    ("cứu em, mai hết hạn nộp hồ sơ", False, ()),               # a call for help about paperwork
    ("năm ngoái cháy nhà, giờ đang cháy nữa", True, ("114", "113", "115")),  # "đang" just before: now
    ("cháy nhà năm ngoái cứu với", False, ()),                  # past: a cry about old news, not a fire now
    ("chờ xiu", False, ()),                                     # "xíu" (a little), not "xỉu"
    ("bà té xỉu", True, ("115", "113", "114")),
    ("cưú với", True, ("113", "114", "115")),                   # the tone mark on the neighbouring vowel
    ("", False, ()),
    ("😀😀", False, ()),
])
def test_assess(detector, text, emergency, calls):
    verdict = detector.assess(text)
    assert verdict.emergency is emergency
    assert verdict.calls == calls


def test_taught_phrasings_count_word_for_word():
    catalog = load_catalog(ROOT / "procedures.yaml", ROOT / "intents")
    normalize = Normalizer(catalog.lexicon)
    detector = EmergencyDetector(SIGNALS, {}, ["ông ấy lên cơn"], normalize)
    assert detector.assess("Ông ấy lên cơn!").emergency
    assert not detector.assess("ông ấy lên cơn hôm qua rồi, giờ khỏe").emergency


def test_phrase_gap_is_bounded():
    phrase = Phrase.parse("nhà * cháy")
    tokens = [Token(w, w) for w in "nha a b c d chay".split()]
    assert phrase.spans(tokens, [True] * len(tokens)) == []  # four words between: too far
    tokens = [Token(w, w) for w in "nha a b c chay".split()]
    assert phrase.spans(tokens, [True] * len(tokens)) == [(0, 5)]


def test_shipped_vocabulary_never_alarms_on_catalog_phrasings():
    """Every phrasing of a procedure or FAQ is a question about paperwork, never an emergency."""
    catalog = load_catalog(ROOT / "procedures.yaml", ROOT / "intents")
    normalize = Normalizer(catalog.lexicon)
    entry = catalog.entries["khan-cap"]
    detector = EmergencyDetector(catalog.emergency["signals"], catalog.lexicon.abbreviations, entry.questions,
                                 normalize)
    alarms = [q for e in catalog.entries.values() if e.id != "khan-cap" for q in e.questions
              if detector.assess(q).emergency]
    assert alarms == []
    missed = [q for q in entry.questions if not detector.assess(q).emergency]
    assert missed == []


def test_a_danger_may_name_several_numbers_and_the_catalog_lists_more():
    signals = {**SIGNALS, "dangers": [*SIGNALS["dangers"],
                                      {"name": "lũ", "call": ["114", "112"], "phrases": ["lũ cuốn"]}]}
    detector = EmergencyDetector(signals, {}, numbers={"113": "", "114": "", "115": "", "112": ""})
    assert detector.assess("lũ cuốn trôi nhà").calls == ("114", "112", "113", "115")
    assert detector.assess("cháy nhà").calls == ("114", "113", "115", "112")
    assert detector.assess("sos").calls == ("113", "114", "115", "112")


def test_the_shipped_reply_for_a_flood_names_rescue_then_112():
    from bot.dialogue import Engine
    from bot.state import MemoryStateStore

    engine = Engine(load_catalog(ROOT / "procedures.yaml", ROOT / "intents"))
    text = engine.respond("u", "nước lũ cuốn trôi người", MemoryStateStore()).replies[0].text
    assert text.startswith("KHẨN CẤP: gọi ngay 114") and "112 (" in text.splitlines()[1]
