"""The plan table shows what changes: field by field inside mappings, creates grouped, unchanged counted."""

from __future__ import annotations

from rich.console import Console

from election.provision import render
from election.provision.engine import PlanResult, Step
from election.provision.resources import Change


def text(table: object) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


def test_plan_table_names_each_changed_field_and_folds_the_rest() -> None:
    result = PlanResult([
        Step("us-east-1/lambda_function/p-tally", "lambda_function", "us-east-1", "p-tally", "update",
             (Change("environment", {"A": "1", "ALLOWED_ORIGINS": "x"}, {"A": "1", "ALLOWED_ORIGINS": "y"}),)),
        Step("us-east-1/queue/p-votes", "queue", "us-east-1", "p-votes", "noop"),
        Step("us-east-1/queue/p-handoff", "queue", "us-east-1", "p-handoff", "noop"),
        Step("us-west-2/table/p-voters", "table", "us-west-2", "p-voters", "create"),
        Step("us-west-2/table/p-ballots", "table", "us-west-2", "p-ballots", "create"),
        Step("eu-west-1/kms_key/alias/p", "kms_key", "eu-west-1", "alias/p", "delete"),
    ])
    out = text(render.plan_table(result))
    assert "environment.ALLOWED_ORIGINS: x → y" in out
    assert "environment.A:" not in out, "unchanged keys of a mapping are not shown"
    assert "2 resources unchanged" in out
    assert "2 named p-*: ballots, voters" in out and "+ create" in out
    assert "- delete" in out and "alias/p" in out
    assert render.summary_line(result) == "2 to create, 1 to update, 1 to delete, 2 unchanged."


def test_status_table_counts_per_region() -> None:
    result = PlanResult([Step("r/queue/a", "queue", "r", "a", "noop"), Step("r/queue/b", "queue", "r", "b", "update"),
                         Step("r/queue/c", "queue", "r", "c", "create")])
    out = text(render.status_table(result))
    row = next(line for line in out.splitlines() if line.startswith("│ r "))
    assert [c.strip() for c in row.strip("│").split("│")] == ["r", "1", "1", "1", "0"]


def test_names_are_never_cut_short_on_a_narrow_terminal() -> None:
    """On 80 columns no name is cut with an ellipsis: siblings like -results and -receipt stay apart."""
    from rich.console import Console

    from election.provision import render
    from election.provision.engine import PlanResult, Step

    names = [f"election-2026-{role}" for role in ("receipt", "results", "enqueue")]
    result = PlanResult([Step(f"us-east-1/lambda_function/{n}", "lambda_function", "us-east-1", n, "create")
                         for n in names])
    console = Console(record=True, width=80)
    console.print(render.plan_table(result))
    text = console.export_text()
    assert "…" not in text
    assert "3 named election-2026-*:" in text and all(role in text for role in ("enqueue", "receipt", "results"))
