"""Credential files (mailing list, receipts ledger, local.json) never follow a planted symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from election.errors import ElectionError
from election.ops.loadtest import append_ledger
from election.ops.seed import read_credentials, write_credentials
from election.securefile import open_private_append, write_private
from election.statedir import write_endpoints

VOTERS = [("ABCDE-FGHJK-LMNPQ-RSTUV", "NY"), ("23456-789AB-CDEFG-HJKLM", "CA")]


def plant(tmp_path: Path, at: Path) -> Path:
    """A symlink at `at` pointing to a victim file the attacker wants written."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    at.symlink_to(victim)
    return victim


def test_seed_voters_does_not_follow_a_link_planted_at_out_tmp(tmp_path: Path) -> None:
    out = tmp_path / "voters.csv"
    victim = plant(tmp_path, tmp_path / "voters.csv.tmp")
    write_credentials(out, VOTERS)
    assert victim.read_text() == "precious\n"                       # not overwritten with voter IDs
    assert read_credentials(out) == VOTERS and not out.is_symlink()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "voters.csv.tmp").is_symlink()               # left alone, never written through


def test_a_link_at_the_destination_is_replaced_not_written_through(tmp_path: Path) -> None:
    out = tmp_path / "voters.csv"
    victim = plant(tmp_path, out)
    write_credentials(out, VOTERS)
    assert victim.read_text() == "precious\n" and not out.is_symlink()


def test_local_json_is_written_privately_past_a_planted_link(tmp_path: Path) -> None:
    victim = plant(tmp_path, tmp_path / "local.tmp")
    path = write_endpoints({"control_token": "secret", "pid": os.getpid()}, tmp_path)
    assert victim.read_text() == "precious\n" and "secret" in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".local.json.")] == []   # no temp left


def test_the_receipts_ledger_refuses_a_planted_link(tmp_path: Path) -> None:
    ledger = tmp_path / "election-x-receipts.jsonl"
    victim = plant(tmp_path, ledger)
    with pytest.raises(ElectionError, match="symbolic link"):
        append_ledger(ledger, [{"receipt": "a" * 32}])
    assert victim.read_text() == "precious\n"


def test_the_ledger_is_owner_only_even_if_it_existed_wider(tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    ledger.write_text("")
    os.chmod(ledger, 0o644)
    append_ledger(ledger, [{"receipt": "b" * 32}])
    assert oct(ledger.stat().st_mode & 0o777) == "0o600" and "b" * 32 in ledger.read_text()


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "f"
    write_private(out, "old")

    def boom(fh: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_private(out, boom)
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_append_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ElectionError):
        open_private_append(tmp_path)
