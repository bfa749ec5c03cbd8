"""The benchmarks run and report what they claim (tiny numbers, no timing asserted)."""
from __future__ import annotations

import json

import pytest

from benchmarks import __main__ as entry
from benchmarks.load import percentiles


@pytest.mark.parametrize("values, expected", [
    ([], {"p50": None, "p95": None, "p99": None, "max": None}),
    ([5.0], {"p50": 5.0, "p95": 5.0, "p99": 5.0, "max": 5.0}),
])
def test_percentiles(values, expected):
    assert percentiles(values) == expected


def test_an_unknown_benchmark_is_refused(capsys):
    assert entry.main(["nope"]) == 2 and "usage" in capsys.readouterr().err


def test_the_admin_benchmark_reports_its_pages(capsys):
    from benchmarks.admin import run

    medians = run(questions=300, handoffs=30, repeat=2)
    assert set(medians) == {"/admin/cau-hoi?days=30", "/admin/gap-can-bo", "/admin/thong-ke", "/admin/thong-ke/tuan"}
    assert all(seconds > 0 for seconds in medians.values())
    report = capsys.readouterr().out
    assert "300 câu hỏi chưa trả lời, 30 lần gặp cán bộ" in report and "/admin/thong-ke: p50" in report


@pytest.mark.timeout(240)
def test_the_webhook_benchmark_answers_every_message_once(capsys):
    code = entry.main(["webhook", "--json", "--backends", "sqlite", "--rate", "20", "--duration", "2",
                       "--warmup", "1", "--seconds", "1", "--clients", "4", "--settle", "30"])
    report = json.loads(capsys.readouterr().out)
    assert code in (0, 1)  # 1 only when a speed target is missed on this machine
    (result,) = report["backends"]
    sustained, burst = result["sustained"], result["burst"]
    assert (sustained["sent"], sustained["lost"], sustained["duplicated"], sustained["non_200"]) == (60, 0, 0, 0)
    assert 38 <= sustained["measured"] <= 42  # the warm-up's messages are left out of the latency figures
    assert burst["webhook"]["requests"] > 0 and burst["webhook"]["non_200"] == 0 and burst["bare"]["rps"] > 0
    assert burst["backlog_answered_s"] is not None and result["targets"]["none_lost"] is True


def test_the_match_benchmark_measures_both_tiers_against_the_same_knowledge():
    from benchmarks.match import run
    from bot.dialogue import EngineHolder
    from bot.settings import Settings

    engine = EngineHolder(Settings.from_env({})).get()
    rows = run(engine.catalog, ["khai sinh cần gì", "sang tên sổ đỏ", "xin xác nhận cư trú"] * 3, sizes=(80,),
               national=engine.national.index)
    assert [r["catalog"] for r in rows] == ["shipped", "synthetic-80", "shipped+national", "synthetic-80+national"]
    alone, both = rows[0], rows[2]
    assert both["records"] == len(engine.national.records) and alone["records"] == 0
    assert both["phrasings"] > alone["phrasings"] + both["records"] - 1  # the baseline sees every record's name
    assert rows[1]["entries"] == 80 and all(r["engine"]["n"] == 9 and r["engine_mb"] > 0 for r in rows)


@pytest.mark.timeout(240)
def test_the_communes_benchmark_measures_engines_for_many_communes(capsys):
    code = entry.main(["communes", "--json", "--communes", "3", "--duration", "0", "--repeat", "1"])
    report = json.loads(capsys.readouterr().out)
    engines = report["engines"]
    assert code in (0, 1) and report["end_to_end"] is None and report["skipped"] == "--duration 0"
    assert engines["communes"] == 3 and engines["memory_mb"]["3_communes"] >= engines["memory_mb"]["1_commune"] > 0
    assert set(engines["turn_ms"]) == {"province_engine", "3_communes"} and engines["queries"] == 200
