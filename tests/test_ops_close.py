"""open/close: the polls item, the drain before the pepper goes, and refusals that keep the pepper."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_ops_audit import Pipeline, cast, election_fixture  # noqa: F401 - provides the `election` fixture

from election.errors import ElectionError
from election.ops import dlq, drain, polls, state
from election.ops.audit import audit
from election.ops.closing import close_polls, open_polls, pepper_exists
from election.ops.target import Target


def no_sleep(_: float) -> None:
    pass


def test_close_drains_counts_destroys_pepper_and_cannot_reopen(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    cast(pipe, 12)
    pipe.run()
    before = state.results(target)
    seen: list[str] = []
    done = close_polls(target, timeout=5, grace=0, on_step=seen.append, sleep=no_sleep)
    assert done.drain.drained and done.results == before and done.results["total"] == 12
    assert sorted(done.pepper_destroyed_in) == sorted(target.plan.region_names)
    assert not any(pepper_exists(target, r) for r in target.plan.region_names)
    for region, p in polls.read_polls(target.provider, target.plan).items():
        assert p["open"] is False and p["tallied_at"], region
    assert seen[0].startswith("closing the polls") and seen[-1] == "destroying the ballot pepper"
    with pytest.raises(ElectionError, match="cannot reopen"):
        open_polls(target)


def test_close_keeps_the_pepper_while_votes_are_dead_lettered(election: tuple[Target, Pipeline]) -> None:
    target, pipe = election
    pipe.vote("ABCDE-FGHJK-LMNPQ-RSTUV", "NY", "Donald Trump")
    region = target.plan.home_region("NY")
    sqs = target.client("sqs", region)
    for _ in range(10):
        sqs.receive_message(QueueUrl=target.queue_url(region, target.names.votes_queue), VisibilityTimeout=0)
    with pytest.raises(ElectionError, match="dead-letter queues; replay them"):
        close_polls(target, timeout=1, grace=0, sleep=no_sleep)
    assert all(pepper_exists(target, r) for r in target.plan.region_names)
    assert not polls.read_polls(target.provider, target.plan)[region]["open"]


def test_close_keeps_the_pepper_when_the_queues_do_not_drain(election: tuple[Target, Pipeline],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target, pipe = election
    cast(pipe, 2)          # queued, never processed
    ticks = iter(range(1000))
    real = drain.wait_drained

    def fake_clock(t: Target, timeout: float, on_poll: Callable[[int, int], None]) -> drain.Drain:
        return real(t, timeout=timeout, on_poll=on_poll, sleep=no_sleep, clock=lambda: float(next(ticks)))

    monkeypatch.setattr(drain, "wait_drained", fake_clock)
    with pytest.raises(ElectionError, match="did not drain"):
        close_polls(target, timeout=3, grace=0, sleep=no_sleep)
    assert all(pepper_exists(target, r) for r in target.plan.region_names)


def test_open_sets_every_region_open(election: tuple[Target, Pipeline]) -> None:
    target, _ = election
    polls.close_polls(target.provider, target.plan)
    opened = open_polls(target)
    assert opened["open"] is True
    assert all(p["open"] for p in polls.read_polls(target.provider, target.plan).values())


def dead_letter(target: Target, pipe: Pipeline, voter: str, st: str, candidate: str) -> dict[str, str]:
    """Queue a vote and let it fail until moto moves it to the dead-letter queue."""
    entry = pipe.vote(voter, st, candidate)
    region = target.plan.home_region(st)
    sqs = target.client("sqs", region)
    for _ in range(10):
        sqs.receive_message(QueueUrl=target.queue_url(region, target.names.votes_queue), VisibilityTimeout=0)
    assert state.queue_depth(target, region, target.names.votes_dlq) == 1
    return entry


def test_final_means_final_after_close_force(election: tuple[Target, Pipeline]) -> None:
    """The issue's scenario: a vote in a dead-letter queue, `close --force`, then `dlq redrive`."""
    target, pipe = election
    ledger = cast(pipe, 4)
    pipe.run()
    entry = dead_letter(target, pipe, "ABCDE-FGHJK-LMNPQ-RSTUV", "NY", "Donald Trump")
    done = close_polls(target, timeout=1, grace=0, force=True, sleep=no_sleep)
    assert done.left_out == 1 and done.results["total"] == 4
    assert any("1 accepted vote(s) were left out" in n for n in done.notes)
    assert any("24 hours" in n and "35 days" in n for n in done.notes), "says what AWS keeps"
    region = target.plan.home_region("NY")
    assert state.queue_depth(target, region, target.names.votes_dlq) == 0, "a dead letter does not outlive close"

    with pytest.raises(ElectionError, match="closed and final"):
        dlq.redrive(target)
    # A vote put back on the queue by other means is refused by process, and stays queued.
    pipe.vote("ZZZZZ-YYYYY-XXXXX-WWWWW", "NY", "Jill Stein")
    pipe.run()
    assert state.results(target)["total"] == 4
    assert state.queue_depth(target, region, target.names.votes_queue) == 1
    with pytest.raises(ElectionError, match="already closed and final"):
        close_polls(target, timeout=1, grace=0, sleep=no_sleep)

    report = audit(target, ledger + [entry])
    assert not report.ok and report.left_out == 1
    assert any("1 accepted vote(s) were left out of the final result" in d for d in report.discrepancies)
    assert not any("(lost)" in d for d in report.discrepancies), report.discrepancies
