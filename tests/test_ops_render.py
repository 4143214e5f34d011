"""What the ops commands print: results with bars, the audit verdict naming each discrepancy, the load report."""

from __future__ import annotations

from rich.console import Console

from election.ops import render
from election.ops.audit import Audit
from election.ops.loadtest import Report


def text(renderable: object) -> str:
    console = Console(record=True, width=140)
    console.print(renderable)
    return console.export_text()


RESULTS = {"updated_at": "2026-11-27T10:00:00Z", "total": 10,
           "candidates": {"Hillary Clinton": 6, "Donald Trump": 4, "Jill Stein": 0},
           "states": {"TX": {"total": 4, "candidates": {"Hillary Clinton": 1, "Donald Trump": 3, "Jill Stein": 0}},
                      "CA": {"total": 6, "candidates": {"Hillary Clinton": 5, "Donald Trump": 1, "Jill Stein": 0}},
                      "WY": {"total": 0, "candidates": {"Hillary Clinton": 0, "Donald Trump": 0, "Jill Stein": 0}}}}


def test_results_rank_candidates_with_shares_and_bars() -> None:
    out = text(render.results_view(RESULTS))
    assert out.index("Hillary Clinton") < out.index("Donald Trump") < out.index("Jill Stein")
    assert "60.0%" in out and "40.0%" in out and "█" in out
    tx = next(line for line in out.splitlines() if line.strip().startswith("│ TX") or " TX " in line)
    assert "Donald Trump" in tx and "75%" in tx
    one = text(render.results_view(RESULTS, "CA"))
    assert "CA: 6 votes" in one and "83.3%" in one


def test_bar_length_follows_the_share() -> None:
    assert render.bar(0.0).plain == ""
    assert render.bar(1.0, 10).plain == "█" * 10
    assert render.bar(0.5, 10).plain == "█" * 5


def test_audit_verdict_lists_every_discrepancy() -> None:
    a = Audit(roll={"us-east-1": 5}, ballots_held={"us-east-1": 3}, ballots_own={"us-east-1": 3},
              counted={"us-east-1": 4}, queues={"us-east-1": {"election-local-votes": 0, "election-local-votes-dlq": 2}},
              tally_lag={"us-east-1": -1}, discrepancies=["first problem.", "second problem."])
    out = text(render.audit_view(a))
    assert "FAIL: 2 discrepancies" in out and "• first problem." in out and "• second problem." in out
    clean = Audit(roll={"us-east-1": 5}, ballots_held={"us-east-1": 3}, ballots_own={"us-east-1": 3},
                  counted={"us-east-1": 3}, queues={"us-east-1": {}}, tally_lag={"us-east-1": 0}, receipts_checked=3)
    assert "PASS" in text(render.audit_view(clean)) and "3 accepted receipts" in text(render.audit_view(clean))


def test_load_report_shows_rates_percentiles_and_the_verdict() -> None:
    rep = Report(url="http://x", planned=100, seconds=2.0, target_rate=50, throughput=50.0,
                 latency_ms={"p50": 12.0, "p90": 30.0, "p99": 45.0, "max": 60.0}, statuses={"202": 95, "409": 5},
                 by_kind={"vote": {"202": 95}, "duplicate": {"409": 5}}, accepted_voters=95, unexpected={},
                 drained=True, drain_seconds=1.5, verified=False, problems=["3 vote(s) answered 202 never became a ballot."])
    out = text(render.loadtest_view(rep))
    assert "12 / 30 / 45 / 60 ms" in out and "50.0 req/s" in out and "202: 95" in out
    assert "VERIFICATION FAILED" in out and "never became a ballot" in out
