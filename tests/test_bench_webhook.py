"""Smoke test of `python -m bot bench-webhook` with tiny numbers: the JSON shape and no message lost (no timing)."""
from __future__ import annotations

import json

import pytest

from bot.cli import build_parser
from webhooks.bench_load import percentiles


@pytest.mark.timeout(180)
def test_bench_webhook_reports_every_message_answered(capsys):
    args = build_parser().parse_args(["bench-webhook", "--json", "--backends", "sqlite", "--rate", "20",
                                      "--duration", "2", "--sustained-warmup", "1", "--seconds", "1", "--rounds", "2", "--warmup", "0.2", "--clients", "4",
                                      "--settle", "30", "--drain-timeout", "60"])
    code = args.func(args, None)
    out = capsys.readouterr().out
    report = json.loads(out)
    assert code in (0, 1), out  # 1 only when a speed target is missed on this machine
    assert set(report) >= {"cpus", "rate", "duration", "backends", "passed"}
    (result,) = report["backends"]
    assert result["backend"] == "sqlite-inprocess"
    throughput, sustained = result["throughput"], result["sustained"]
    for side in ("bare", "webhook"):
        assert throughput[side]["requests"] > 0 and throughput[side]["non_200"] == 0
        assert set(throughput[side]["ack_ms"]) == {"p50", "p95", "p99", "max"}
    assert throughput["backlog_drained"] is True and throughput["ratio"] > 0
    assert len(throughput["round_ratios"]) == len(throughput["round_rps"]) == 2  # each round: bare, then webhook
    assert throughput["ratio"] == min(throughput["round_ratios"])  # the median; of two, the lower
    assert sustained["sent"] == 60 and sustained["non_200"] == 0  # 1 s of warm-up, then 2 s measured, at 20/s
    assert (sustained["replied"], sustained["lost"], sustained["incomplete"], sustained["duplicates"]) == (60, 0, 0, 0)
    assert 38 <= sustained["measured"] <= 42  # the latency figures leave the warm-up's messages out
    assert sustained["cpu_ms_per_message"]["web"] > 0  # serve's own CPU, its forked workers included
    assert sustained["cpu_ms_per_message"]["workers"] == 0  # embedded defaults: no queue worker processes
    assert set(sustained["e2e_ms"]) == set(sustained["warmup_e2e_ms"]) == {"p50", "p95", "p99", "max"}
    assert result["targets"]["no_message_lost"] is True and result["targets"]["no_duplicates"] is True


def test_percentiles_of_nothing_and_of_one_value():
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None, "max": None}
    assert percentiles([5.0])["p99"] == 5.0


def test_bench_webhook_is_registered_with_the_bot_cli():
    parser = build_parser()
    assert parser.parse_args(["bench-webhook", "--duration", "3"]).func.__name__ == "cmd_bench_webhook"
    assert parser.parse_args(["bench-webhook"]).func.__module__ == "webhooks.bench_webhook"


@pytest.mark.parametrize("rounds", ["0", "-1"])
def test_bench_webhook_refuses_fewer_than_one_round(rounds, capsys):
    # With no round there is no ratio to report: refused up front, not a crash after the sustained phase.
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["bench-webhook", "--rounds", rounds])
    assert exited.value.code == 2 and "must be at least 1" in capsys.readouterr().err
