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
    assert code == 1 and "Traceback" not in err and "error:" in err
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
