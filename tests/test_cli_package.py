"""The CLI package's shape: commands grouped in --help, one Options object, --debug from the parsed option."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from election.cli import cli, main


def _run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr("sys.argv", ["election", *args])
    with pytest.raises(SystemExit) as done:
        main()
    code = done.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_help_lists_commands_by_section_in_the_order_they_are_used() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    provision, local, operate = (out.index(t) for t in ("Provision", "Run it on this machine", "Operate the election"))
    assert provision < local < operate
    assert provision < out.index("  up ") < local          # provisioning commands under their heading
    assert local < out.index("  demo ") < operate
    assert operate < out.index("  loadtest ") and operate < out.index("  close ")
    assert out.index("  plan ") < out.index("  up ") < out.index("  down ")   # definition order, not alphabetical


def test_debug_comes_from_the_parsed_option_not_from_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for key in ("ELECTION_PLAN", "ELECTION_STATE_DIR", "ELECTION_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    # "--debug" here is the value of --voters (a file name), not the flag: no traceback.
    code, err = _run_main(monkeypatch, capsys, "loadtest", "--voters", "--debug", "--plan", "missing.yaml")
    assert code == 1 and "Traceback" not in err and "Error:" in err
    # The flag itself: the same failure shows its traceback.
    code, err = _run_main(monkeypatch, capsys, "loadtest", "--voters", "v.csv", "--plan", "missing.yaml", "--debug")
    assert code == 1 and "Traceback" in err


def test_every_command_module_is_small() -> None:
    import election.cli as pkg

    for path in Path(pkg.__file__).parent.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path.name


def test_the_built_in_plan_ships_in_the_package_and_config_keeps_the_same_example() -> None:
    from election.data import LOCAL_PLAN, data_file

    root = Path(__file__).resolve().parents[1]
    assert LOCAL_PLAN.is_relative_to(root / "election")
    # config/local.yaml is the copy users start from: edit both together.
    assert (root / "config/local.yaml").read_text() == LOCAL_PLAN.read_text(), \
        "config/local.yaml and election/data/local.yaml differ: change both (cp config/local.yaml election/data/)"
    assert data_file("turnout_2016.csv").exists() and data_file("vote_shares_2016.csv").exists()
    out = CliRunner().invoke(cli, ["dev", "--help"], terminal_width=200).output
    assert "the built-in local plan" in out


def _all_commands() -> list[tuple[str, object]]:
    import click

    out = []
    stack = [("", cli)]
    while stack:
        prefix, group = stack.pop()
        for name, cmd in group.commands.items():     # type: ignore[attr-defined]
            out.append((f"{prefix}{name}", cmd))
            if isinstance(cmd, click.Group):
                stack.append((f"{prefix}{name} ", cmd))
    return out


def test_every_command_shows_an_example_and_its_environment_variables() -> None:
    for name, cmd in _all_commands():
        out = CliRunner().invoke(cli, [*name.split(), "--help"], terminal_width=120).output
        assert "Example:" in out and "  election " in out.split("Example:")[1], name
        params = {p.name for p in cmd.params}            # type: ignore[attr-defined]
        if "plan" in params or "plan_path" in params:
            assert "env var: ELECTION_PLAN" in out or "--plan" not in out or name.startswith("region"), name
        if "--plan" in out and not name.startswith("validate"):
            assert "--state-dir" in out, f"{name} takes --plan but not --state-dir"
        if "--state-dir" in out:
            assert "ELECTION_STATE_DIR" in out, name


def test_validate_checks_a_plan_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    root = Path(__file__).resolve().parents[1]
    good = CliRunner().invoke(cli, ["validate", str(root / "config/aws.yaml")], terminal_width=200)
    assert good.exit_code == 0 and "valid. Plan 'election-2026', target aws" in good.output, good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text((root / "config/aws.yaml").read_text().replace("us-west-2:", "us-west-2:\n    states: [TX]\n  x:"))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code != 0 and "bad.yaml" in str(result.exception)


def test_status_never_says_all_is_well_above_a_region_that_is_not() -> None:
    from types import SimpleNamespace

    from election.cli.provision import status_verdict

    ok = [SimpleNamespace(region="us-east-1", health="ok"), SimpleNamespace(region="us-west-2", health="-")]
    assert status_verdict(False, ok) == "Everything matches the plan."
    down = [ok[0], SimpleNamespace(region="us-west-2", health="unreachable")]
    assert status_verdict(False, down) == ("Every resource matches the plan, but not every region is serving: "
                                           "us-west-2 (unreachable).")


def test_seed_voters_refuses_an_out_path_in_a_missing_directory(tmp_path: Path) -> None:
    from election.errors import ElectionError
    from election.ops.seed import prepare_credentials

    with pytest.raises(ElectionError, match="the directory .*/nonexistent/dir does not exist"):
        prepare_credentials(tmp_path / "nonexistent/dir/v.csv", 5, resume=False)
    assert not (tmp_path / "nonexistent").exists()


def test_seed_progress_and_used_voter_files_are_git_ignored() -> None:
    import subprocess

    root = Path(__file__).resolve().parents[1]
    for name in ("voters.csv.progress.json", "voters.csv.used", "voters.csv", "node_modules/x", "artifacts/a.png"):
        done = subprocess.run(["git", "check-ignore", "-q", name], cwd=root, check=False)
        assert done.returncode == 0, f"{name} is not git-ignored"


def test_the_users_election_variables_do_not_reach_the_tests(tmp_path: Path) -> None:
    """The dev banner tells users to export ELECTION_STATE_DIR; the suite must not care (conftest drops them)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "ELECTION_STATE_DIR": str(tmp_path / "elsewhere"), "ELECTION_PLAN": str(tmp_path / "x.yaml"),
           "ELECTION_ENDPOINT_URL": "http://127.0.0.1:9", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_cli_package.py::test_debug_comes_from_the_parsed_option_not_from_argv",
                           "tests/test_ops_target.py"], cwd=root, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:]


def test_status_and_audit_tables_fit_80_columns_without_cutting_region_names() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from election.ops.render import audit_view
    from election.provision.render import runtime_table

    regions = ["us-east-1", "ap-southeast-2"]
    rows = [SimpleNamespace(region=r, health="unreachable", queues={"votes": 1200, "handoff": 0, "votes_dlq": 0,
                                                                    "handoff_dlq": 0},
                            items={"voters": 1_234_567, "ballots": 765_432},
                            alarms_in_alarm=["election-2026-dead-letters-us-east-1", "election-2026-tally-lag"])
            for r in regions]
    audit = SimpleNamespace(roll={r: 1_234_567 for r in regions}, queues={r: {} for r in regions},
                            ballots_held={r: 999_999 for r in regions}, ballots_own={r: 500_000 for r in regions},
                            counted={r: 500_000 for r in regions}, tally_lag={r: 0 for r in regions}, ok=True,
                            receipts_checked=0, discrepancies=[])
    for view in (runtime_table(rows), audit_view(audit)):
        console = Console(width=80, record=True)
        console.print(view)
        text = console.export_text()
        assert all(len(line) <= 80 for line in text.splitlines())
        for r in regions:
            assert r in text, text
        assert "…" not in text, text                       # nothing cut, numbers included


def test_waiting_commands_share_one_drain_timeout_option_and_files_are_named_as_files() -> None:
    from election.cli.options import DRAIN_TIMEOUT_S

    for name in ("loadtest", "audit", "recount", "close"):
        cmd = cli.commands[name]
        opt = next(p for p in cmd.params if "--drain-timeout" in getattr(p, "opts", []))
        assert opt.default == DRAIN_TIMEOUT_S, name
    voters = next(p for p in cli.commands["loadtest"].params if p.name == "voters_path")
    assert voters.opts[0] == "--voters-file" and "--voters" in voters.opts      # the old name still works
    demo = next(p for p in cli.commands["demo"].params if p.name == "voters")
    assert demo.type.name == "integer"                                          # demo's --voters is a number
