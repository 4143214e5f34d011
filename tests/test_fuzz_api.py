"""Fuzz: >= 10,000 generated requests per route against the real handlers on moto, through the local API layer.

Every request goes through `Gateway.invoke` (routing, $default, method and size
checks, the handler's answer encoded as API Gateway would) to the real enqueue,
results, receipt and health handlers of a two-region pipeline on moto
in-process. Properties: no answer is >= 500, every 4xx is {"error","message"},
and nothing changes: every table (scanned) and every queue (moto's message
lists) is identical before and after. Legitimate votes are never generated
(a real voter ID is only ever paired with a candidate off its ballot).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from election.lambdas import common, contract, metrics
from election.local.gateway import Gateway

# Each hypothesis example is sent as drawn and as MUTANTS byte-level mutations of it (seeded by the
# example's own Random): hypothesis's per-draw cost (~5-50 ms on the shared 2-core machine) would
# otherwise make 10,000 drawn bodies per route take minutes. 1,000 x (1 + 9) = 10,000 per route.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))
MUTANTS = 9
PER_ROUTE = EXAMPLES * (1 + MUTANTS)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck), phases=["explicit", "generate"])
TOKENS = [b"\\ud800", b"\\udfff", b"\\u0000", b"\\", b'"', b"[", b"{", b"]", b"}", b":", b",", b"\x00", b"\xff",
          b"\xed\xa0\x80", b"1e999", b"-0", b"NaN", b"null", b"%", b"%00", b"/", b"..", "é".encode()]


def mutants(seed: bytes, rnd: random.Random, count: int = MUTANTS) -> list[bytes]:
    """`count` mutations of `seed`: flipped, inserted, deleted, duplicated bytes and JSON-ish tokens."""
    out = []
    for _ in range(count):
        b = bytearray(seed)
        for _ in range(rnd.randint(1, 4)):
            op = rnd.randrange(6)
            at = rnd.randint(0, len(b))
            if op == 0 and b:
                b[min(at, len(b) - 1)] = rnd.randrange(256)
            elif op == 1:
                b[at:at] = rnd.choice(TOKENS)
            elif op == 2 and b:
                del b[at:at + rnd.randint(1, 8)]
            elif op == 3:
                b[at:at] = b[at:at + rnd.randint(1, 16)] * rnd.randint(1, 40)
            elif op == 4:
                b[at:at] = rnd.choice(TOKENS) * rnd.randint(1, 600)
            else:
                del b[at:]
        out.append(bytes(b))
    return out
EAST = "us-east-1"


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    """The pipeline on moto, its gateway for us-east-1 (not listening: invoke() only), and its voters."""
    from moto import mock_aws
    from pipeline_fixture import Pipeline

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": EAST}
    saved = {k: os.environ.get(k) for k in (*env, "AWS_PROFILE", "AWS_ENDPOINT_URL")}
    os.environ.update(env)
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(k, None)
    sink = open(os.devnull, "w")   # noqa: SIM115 - the handlers' metric lines, 50,000 of them
    metrics.LOG_STREAM.stream = sink
    try:
        with mock_aws():
            p = Pipeline(os.path.join(os.path.dirname(__file__), "..", "config", "local.yaml"))
            p.seed(per_state=1, states=("NY", "CA", "UT"))
            handlers = {role: p.regions[EAST].handlers[role] for role in ("enqueue", "results", "receipt", "health")}
            handlers["results"].ttl = 1.0          # production caching: the fuzz is about input, not freshness
            handlers["enqueue"].polls._ttl = 2.0
            handlers["receipt"].polls._ttl = 2.0
            handlers["enqueue"].metrics.interval = 3600
            gw = Gateway(EAST, handlers, allowed_origins=common.parse_origins(p.env(EAST)[contract.ENV_ALLOWED_ORIGINS]))
            yield p, gw, snapshot(p)
            assert snapshot(p) == stack_state(p), "a fuzzed request changed the stored state"
    finally:
        metrics.LOG_STREAM.stream = None
        sink.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def stack_state(p: Any) -> Any:
    return p._fuzz_before


def snapshot(p: Any) -> dict[str, Any]:
    """Every item of every table and every message of every queue, in both regions."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    out: dict[str, Any] = {}
    for region in p.regions:
        ddb = boto3.client("dynamodb", region_name=region)
        for name in p.names.values():
            items = ddb.scan(TableName=name, ConsistentRead=True)["Items"]
            out[f"{region}/{name}"] = sorted(json.dumps(i, sort_keys=True) for i in items)
        for qname, queue in sqs_backends[DEFAULT_ACCOUNT_ID][region].queues.items():
            out[f"{region}/sqs/{qname}"] = sorted((m.id, m.body) for m in queue._messages)
    p._fuzz_before = out if not hasattr(p, "_fuzz_before") else p._fuzz_before
    return out


SEEN: Counter[str] = Counter()


def check(gw: Gateway, route: str, method: str, path: str, body: bytes = b"",
          headers: dict[str, str] | None = None) -> None:
    status, _, out = gw.invoke(method, path, headers or {"content-type": "application/json"}, body,
                                         "192.0.2.1")
    SEEN[route] += 1
    assert status < 500, (route, method, path, body[:200], status, out[:300])
    if status >= 400 and method != "HEAD":
        got = json.loads(out)
        assert set(got) >= {"error", "message"} and isinstance(got["message"], str), got
    out.decode("utf-8")   # always valid UTF-8


# --- strategies ----------------------------------------------------------------------------------------

# Flat strategies on purpose: hypothesis's cost per drawn value dominates the run time (a recursive JSON
# strategy made it ~4x slower); depth comes from `nested` below, which builds it without drawing it.
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = json_scalars | st.lists(json_scalars, max_size=3) | st.dictionaries(st.text(max_size=8), json_scalars,
                                                                                  max_size=3)
voterish = st.one_of(
    st.text(alphabet=contract.VOTER_ID_ALPHABET + "-01OI ", min_size=15, max_size=30),
    st.text(alphabet=contract.VOTER_ID_ALPHABET, min_size=20, max_size=20).map(   # well formed, not on the roll
        lambda t: "-".join(t[i:i + 5] for i in range(0, 20, 5))),
    st.text(max_size=40),
)
candidates = st.sampled_from(["Hillary Clinton", "Jill Stein", "Evan McMullin", "", "jill stein"]) | st.text(max_size=30)


def bodies(fields: tuple[str, ...], real_voters: list[str]) -> st.SearchStrategy[bytes]:
    """Raw bytes, JSON of any shape, near-valid objects, deep nesting, surrogates: never a valid vote."""
    near_valid = st.fixed_dictionaries({f: (voterish if f == "voter_id" else candidates) for f in fields},
                                       optional={"extra": json_values, "\ud800": json_values})
    # a real voter only with an off-ballot candidate (422) or on /ballot (a read, 200)
    real = st.builds(lambda v, c: {"voter_id": v, **({"candidate": c} if "candidate" in fields else {})},
                     st.sampled_from(real_voters), st.sampled_from(["Nobody", "Evan McMullin\u0000", "x" * 60]))
    as_json = st.one_of(near_valid, real, json_values).map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    nested = st.builds(lambda d, open_, close: open_ * d + close * d, st.integers(1, 2000),
                       st.sampled_from([b"[", b'{"a":', b'{"voter_id":[']), st.sampled_from([b"]", b"}", b""]))
    escapes = st.lists(st.sampled_from(['\\ud800', '\\udfff', '\\u0000', '\\"', '\\\\', 'é', '"', '{', '[']),
                       max_size=20).map(lambda xs: ('{"' + "".join(xs) + '":1}').encode("utf-8", "surrogatepass"))
    return st.one_of(st.binary(max_size=1100), as_json, nested, escapes,
                     st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))


query_text = st.text(max_size=12) | st.sampled_from(
    ["CA", "ca", "XX", "", "%", "%zz", "ß", "ﬀ", "C\u0000A", "CA,NY"])


# --- the routes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path,fields", [("/ballot", ("voter_id",)), ("/votes", ("voter_id", "candidate"))])
def test_post_bodies_never_5xx_nor_change_state(stack: Any, path: str, fields: tuple[str, ...]) -> None:
    p, gw, _ = stack
    real_voters = sorted(p.voters)
    route = f"POST {path}"
    SEEN[route] = 0

    @FUZZ
    @given(body=bodies(fields, real_voters), rnd=st.randoms(use_true_random=False))
    def run(body: bytes, rnd: random.Random) -> None:
        headers = {"content-type": "application/json", "origin": "https://vote.example.org"}
        for each in (body, *mutants(body, rnd)):
            check(gw, route, "POST", path, each, headers)

    run()
    assert SEEN[route] >= PER_ROUTE


def test_receipt_paths_never_5xx(stack: Any) -> None:
    _, gw, _ = stack
    SEEN["receipt"] = 0
    receipts = st.one_of(st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=32), st.text(max_size=70),
                         st.binary(max_size=40).map(lambda b: b.hex()))

    @FUZZ
    @given(receipt=receipts, suffix=st.sampled_from(["", "/", "?x=1", "/extra", "%2F.."]),
           rnd=st.randoms(use_true_random=False))
    def run(receipt: str, suffix: str, rnd: random.Random) -> None:
        path = ("/receipts/" + quote(receipt, safe="") + suffix).encode()
        for each in (path, *(b"/receipts/" + m for m in mutants(path[10:], rnd))):
            check(gw, "receipt", "GET", each.decode("latin-1"))

    run()
    assert SEEN["receipt"] >= PER_ROUTE


def test_results_query_strings_never_5xx(stack: Any) -> None:
    _, gw, _ = stack
    SEEN["results"] = 0
    pairs = st.lists(st.tuples(st.sampled_from(["state", "State", "STATE", "x", "", "state[]"]) | query_text,
                               query_text), max_size=4)

    @FUZZ
    @given(pairs=pairs, raw_tail=st.sampled_from(["", "&", "&&", "=", "state", "state=", "%", "#frag"]),
           rnd=st.randoms(use_true_random=False))
    def run(pairs: list[tuple[str, str]], raw_tail: str, rnd: random.Random) -> None:
        query = ("&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs) + raw_tail).encode()
        for each in (query, *mutants(query, rnd)):
            check(gw, "results", "GET", "/results?" + each.decode("latin-1"))

    run()
    assert SEEN["results"] >= PER_ROUTE


def test_unknown_paths_and_methods_never_5xx(stack: Any) -> None:
    _, gw, _ = stack
    SEEN["unknown"] = 0
    methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT",
                               "PROPFIND", "get"]) | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10)
    segments = st.sampled_from(["votes", "ballot", "results", "receipts", "health", "admin", "..", ".", "",
                                "%00", "\u00e9", "$default"]) | st.text(max_size=12)

    @FUZZ
    @given(method=methods, parts=st.lists(segments, min_size=1, max_size=4), body=st.binary(max_size=64),
           origin=st.sampled_from(["", "null", "file://localhost", "https://vote.example.org"]))
    def run(method: str, parts: list[str], body: bytes, origin: str) -> None:
        path = "/" + "/".join(quote(x, safe="%$.") for x in parts)
        rnd = random.Random(hash((method, path, body)))
        headers = {"content-type": "application/json", **({"origin": origin} if origin else {})}
        for each in (path.encode(), *mutants(path.encode(), rnd)):
            text = "/" + each.decode("latin-1").lstrip("/")
            if (method, text.split("?")[0]) in (("GET", "/health"), ("HEAD", "/health")):
                text = "/health/x"   # the real health route reads every table: not input handling
            check(gw, "unknown", method, text, body, headers)

    run()
    assert SEEN["unknown"] >= PER_ROUTE
