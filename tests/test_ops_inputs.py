"""What a user can get wrong on the ops commands: one sentence, exit 1 (or click's 2), no traceback, nothing sent.

The CLI runs in-process (election.cli.main, as the console script does) against a loopback
"trap" server that stands in for both AWS and the vote API and records every request it gets,
so "nothing was sent" is checked, not assumed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from election.ops.seed import generate_voters, write_credentials

ROOT = Path(__file__).resolve().parents[1]
AWS_PLAN = str(ROOT / "config/aws.yaml")
LOCAL_PLAN = str(ROOT / "config/local.yaml")


class Trap:
    """A loopback HTTP server answering 400 to everything and remembering what it was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        trap = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                trap.requests.append((self.command, self.path, body))
                out = b'{"__type":"ValidationException","message":"trap"}'
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    t = Trap()
    yield t
    t.close()


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_env: None) -> Path:
    """A clean working directory with no ELECTION_* settings from the caller's shell."""
    for key in ("ELECTION_PLAN", "ELECTION_ENDPOINT_URL", "ELECTION_STATE_DIR"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`election ARGS` in-process: (exit code, stderr with rich's line wrapping undone)."""
    from election.cli import main

    monkeypatch.setattr("sys.argv", ["election", *args])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    code = done.value.code
    return (code if isinstance(code, int) else 1), " ".join(err.split())


BROKEN_FILES = [
    ("voter_id,state\nbad,ZZ\n", "v.csv line 2: 'bad' is not a voter ID (4 groups of 5 characters"),
    ("voter_id,state\n2345-6789A,TX\n", "v.csv line 2: '2345-6789A' is not a voter ID"),
    ("voter_id,state\nABCDE-FGHJK-LMNPQ-RSTUV,ZZ\n", "v.csv line 2: 'ZZ' is not a US state or DC postal code."),
    ("voter_id,state\n\nABCDE-FGHJK-LMNPQ-RSTUV,TX,extra\n",
     "v.csv line 3: expected 2 fields (voter_id,state), found 3."),
    ("voter_id,state\nABCDE-FGHJK-LMNPQ-RSTUV,TX\nabcde-fghjk-lmnpq-rstuv,TX\n",
     "v.csv line 3 repeats the voter ID of line 2."),
    ("garbage", "v.csv has no voter_id,state header; is it a credential file from seed-voters?"),
    ("ABCDE-FGHJK-LMNPQ-RSTUV,TX\n", "v.csv has no voter_id,state header"),
    ("", "v.csv is empty; is it a credential file from seed-voters?"),
    ("voter_id,state\n", "v.csv holds no voters, only its header"),
]


@pytest.mark.parametrize(("content", "sentence"), BROKEN_FILES, ids=[s[:24] for _, s in BROKEN_FILES])
def test_loadtest_refuses_a_broken_credential_file_before_sending_anything(
        here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        content: str, sentence: str) -> None:
    (here / "v.csv").write_text(content)
    code, err = run(monkeypatch, capsys, "loadtest", "--voters", "v.csv", "--plan", AWS_PLAN,
                    "--endpoint-url", trap.url, "--url", trap.url, "--drain-timeout", "1")
    assert code == 1
    assert sentence in err and err.count("Error:") == 1
    assert trap.requests == []


def test_loadtest_refuses_a_binary_file(here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (here / "v.csv").write_bytes(bytes(range(128, 256)))
    code, err = run(monkeypatch, capsys, "loadtest", "--voters", "v.csv", "--plan", AWS_PLAN,
                    "--endpoint-url", trap.url, "--url", trap.url)
    assert code == 1 and "v.csv is not text; is it a credential file from seed-voters?" in err
    assert trap.requests == []


def test_a_good_credential_file_reads_back_canonical(here: Path) -> None:
    from election.ops.seed import read_credentials

    voters = generate_voters(30)
    write_credentials(here / "v.csv", voters)
    assert read_credentials(here / "v.csv") == voters
    (here / "w.csv").write_text("voter_id,state\r\n abcde fghjk-lmnpq-rstuv , tx \r\n")
    assert read_credentials(here / "w.csv") == [("ABCDE-FGHJK-LMNPQ-RSTUV", "TX")]


def test_seed_resume_on_a_file_that_is_not_a_credential_file_changes_nothing(
        here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "v2.csv").write_text("garbage")
    code, err = run(monkeypatch, capsys, "seed-voters", "--resume", "--out", "v2.csv", "--plan", AWS_PLAN,
                    "--endpoint-url", trap.url)
    assert code == 1
    assert "v2.csv has no voter_id,state header; is it a credential file from seed-voters?" in err
    assert sorted(p.name for p in here.iterdir()) == ["v2.csv"]          # no checkpoint, no temp file
    assert (here / "v2.csv").read_text() == "garbage"
    assert trap.requests == []


BAD_OPTIONS = [
    (["loadtest", "--rate", "-1"], "--rate"),
    (["loadtest", "--rate", "0"], "--rate"),
    (["loadtest", "--rate", "nan"], "--rate"),
    (["loadtest", "--duration", "0"], "--duration"),
    (["loadtest", "--drain-timeout", "inf"], "--drain-timeout"),
    (["loadtest", "--duplicates", "2"], "--duplicates"),
    (["loadtest", "--invalid", "-0.1"], "--invalid"),
    (["loadtest", "--votes", "0"], "--votes"),
    (["loadtest", "--concurrency", "0"], "--concurrency"),
    (["loadtest", "--url", "notaurl"], "--url"),
    (["loadtest", "--url", "http://127.0.0.1:99999"], "--url"),
    (["seed-voters", "--count", "0"], "--count"),
    (["seed-voters", "--workers", "0"], "--workers"),
    (["results", "--watch", "--interval", "0"], "--interval"),
    (["audit", "--timeout", "-1"], "--drain-timeout' / '--timeout"),
    (["recount", "--timeout", "-1"], "--drain-timeout' / '--timeout"),
    (["close", "--timeout", "-5", "--yes"], "--drain-timeout' / '--timeout"),
    (["close", "--grace", "-1", "--yes"], "--grace"),
]


@pytest.mark.parametrize(("args", "option"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_an_option_out_of_range_is_a_usage_error(here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], args: list[str],
                                                 option: str) -> None:
    code, err = run(monkeypatch, capsys, *args, "--plan", AWS_PLAN, "--endpoint-url", trap.url)
    assert code == 2
    assert f"Invalid value for '{option}'" in err
    assert trap.requests == []


@pytest.mark.parametrize(("args", "sentence"), [
    (["results", "--state", "XX"], "Error: 'XX' is not a US state or DC postal code."),
    (["dlq", "list", "--region", "mars"], ("Error: mars is not a region of plan 'election-2026' "
                                           "(its regions: us-east-1, us-west-2).")),
    (["dlq", "redrive", "--region", "mars"], "Error: mars is not a region of plan 'election-2026'"),
])
def test_an_unknown_state_or_region_is_one_sentence(here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], args: list[str],
                                                    sentence: str) -> None:
    code, err = run(monkeypatch, capsys, *args, "--plan", AWS_PLAN, "--endpoint-url", trap.url)
    assert code == 1 and sentence in err and err.count("Error:") == 1
    assert trap.requests == []


# --- finding the stack that `election dev --state-dir X` started ----------------------

def fake_stack(state_dir: Path, trap: Trap) -> None:
    """A local.json as `election dev --state-dir` writes it, owned by this (live) process, pointing at the trap."""
    state_dir.mkdir(parents=True)
    (state_dir / "local.json").write_text(json.dumps({
        "endpoint_url": trap.url, "router": trap.url, "regions": {"us-east-1": trap.url, "us-west-2": trap.url},
        "plan": LOCAL_PLAN, "pid": os.getpid()}))


def asked_for_a_queue(trap: Trap) -> bool:
    return any(b"election-local" in body for _, _, body in trap.requests)


def test_without_state_dir_a_stack_elsewhere_is_not_found(here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fake_stack(here / "elsewhere", trap)
    code, err = run(monkeypatch, capsys, "dlq", "list", "--plan", LOCAL_PLAN)
    assert code == 1 and "is a local plan but no local stack is running; start one with `election dev`" in err
    assert trap.requests == []


def test_state_dir_option_finds_the_stack(here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    fake_stack(here / "elsewhere", trap)
    code, _ = run(monkeypatch, capsys, "dlq", "list", "--state-dir", "elsewhere")
    assert code == 1                    # the trap is no SQS, but it was the one asked, for the local plan's queues
    assert asked_for_a_queue(trap)


def test_state_dir_from_the_environment_finds_the_stack(here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    fake_stack(here / "elsewhere", trap)
    monkeypatch.setenv("ELECTION_STATE_DIR", str(here / "elsewhere"))
    code, _ = run(monkeypatch, capsys, "dlq", "list")
    assert code == 1 and asked_for_a_queue(trap)


def test_a_wrong_state_dir_is_named_in_the_sentence(here: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(monkeypatch, capsys, "audit", "--plan", LOCAL_PLAN, "--state-dir", "nowhere")
    assert code == 1
    assert "is a local plan but no local stack is running in nowhere; start one with `election dev` " \
           "(or pass the --state-dir it uses" in err


def test_the_loadtest_ledger_lives_in_the_state_dir(here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch) -> None:
    """audit finds loadtest's receipts beside the stack they were cast on, not in ./.election."""
    from election.ops import state
    from election.ops.loadtest import ledger_path
    from election.ops.target import resolve_target

    class Opts:
        plan_path, endpoint_url, profile, debug = LOCAL_PLAN, None, None, False

    fake_stack(here / "elsewhere", trap)
    monkeypatch.setattr(state, "instance_id", lambda target: "i1")
    target = resolve_target(Opts(), explicit_plan=False, state_dir=here / "elsewhere")
    assert ledger_path(target) == here / "elsewhere" / "election-local-i1-receipts.jsonl"


BROKEN_LEDGERS = [
    ("garbage\n", "r.jsonl line 1 is not a receipt entry"),
    ('{"receipt": "00112233445566778899aabbccddeeff", "state": "TX"}\n[1, 2]\n',
     "r.jsonl line 2 is not a receipt entry"),
    ('{"receipt": "nope", "state": "TX"}\n', "r.jsonl line 1: 'nope' is not a receipt (32 hex digits)."),
    ('{"receipt": "00112233445566778899aabbccddeeff", "state": "ZZ"}\n', "r.jsonl line 1: 'ZZ' is not a US state"),
]


@pytest.mark.parametrize(("content", "sentence"), BROKEN_LEDGERS, ids=[s[:28] for _, s in BROKEN_LEDGERS])
def test_audit_refuses_a_receipts_file_that_is_not_a_ledger(here: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], content: str,
                                                           sentence: str) -> None:
    (here / "r.jsonl").write_text(content)
    code, err = run(monkeypatch, capsys, "audit", "--receipts", "r.jsonl", "--plan", AWS_PLAN,
                    "--endpoint-url", trap.url)
    assert code == 1 and sentence in err and err.count("Error:") == 1
    assert trap.requests == []


def test_a_ledger_as_loadtest_writes_it_reads_back(here: Path) -> None:
    from election.ops.audit import load_receipts
    from election.ops.loadtest import append_ledger

    entries = [{"receipt": "00112233445566778899aabbccddeeff", "state": "TX", "candidate": "A"},
               {"receipt": "ffeeddccbbaa99887766554433221100", "state": "DC", "candidate": "B"}]
    append_ledger(here / "r.jsonl", entries)
    assert load_receipts(here / "r.jsonl") == entries
