"""POST /ballot and POST /votes: validate, look the voter up, and queue the vote in its home region.

A vote is answered 202 only once its message is stored: in the home region's
votes queue, else in this region's hand-off queue (the forward handler moves it
on later); when both refuse, 503 and nothing was stored.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import botocore.config

from election.lambdas import common, contract, keys, logic
from election.lambdas.logic import RequestError
from election.lambdas.metrics import Metrics, MetricsBuffer

Handler = Callable[[dict, Any], dict]

# Within the function's 10 s: a slow home queue must leave time for the hand-off queue.
# Worst case ~2 x (1 + 2) s for the home send, then the same for the hand-off send.
_SQS = botocore.config.Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})
_DDB = botocore.config.Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"})

BALLOT_FIELDS = {"voter_id": str}
VOTE_FIELDS = {"voter_id": str, "candidate": str}


class Enqueue:
    """One region's enqueue function: clients built once, reused for every request."""

    def __init__(self, env: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        self.cfg = common.load_config(env)
        session = common.new_session()
        self.ddb = common.make_client(self.cfg, "dynamodb", config=_DDB, session=session)
        self.sqs = {r: common.make_client(self.cfg, "sqs", r, config=_SQS, session=session) for r in
                    sorted(set(self.cfg.votes_queue_urls) | {self.cfg.region})}
        secrets_client = common.make_client(self.cfg, "secretsmanager", session=session)
        self.peppers = keys.Peppers(secrets_client, self.cfg.voter_pepper_secret, self.cfg.ballot_pepper_secret)
        self.key = keys.QueueKey(secrets_client, env.get(contract.ENV_QUEUE_KEY_SECRET, ""))
        self.polls = common.PollsCache(self.ddb, self.cfg.results_table)
        self.clock = clock
        self.metrics = MetricsBuffer()

    def __call__(self, event: dict, context: Any = None) -> dict:
        route = common.route(event)
        metrics = Metrics(self.cfg.namespace, {"Region": self.cfg.region, "Route": route_name(route)})
        try:
            if common.method(event) == "OPTIONS":
                return common.preflight(event, self.cfg, "POST, OPTIONS")
            if route == "POST /votes":
                resp = self.vote(event, metrics)
            elif route == "POST /ballot":
                resp = self.ballot(event)
            else:
                resp = common.unrouted(event, self.cfg)
        except RequestError as exc:
            resp = common.error(event, self.cfg, exc.status, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - a dependency failed: 503, never a stack trace to the voter
            metrics.add("DependencyErrors")
            resp = common.error(event, self.cfg, 503, "unavailable",
                                "The election service is temporarily unavailable; please try again.")
            metrics.props["error"] = common.error_code(exc)[:64]
        metrics.add(f"Status{resp['statusCode']}")
        self.metrics.add(metrics)
        return resp

    # --- routes ----------------------------------------------------------------------------------

    def ballot(self, event: dict) -> dict:
        data = logic.parse_json_object(common.raw_body(event), BALLOT_FIELDS, common.MAX_BODY_BYTES)
        canonical = logic.canonical_or_400(data["voter_id"])
        self._require_open()
        state, voted, bk = self._lookup(canonical)
        body: dict[str, Any] = {"state": state, "candidates": list(self.cfg.ballot.for_state(state)), "voted": voted,
                                "polls_open": True}
        if voted:
            # Whoever holds the voter ID can vote with it, so the receipt tells them nothing new; it lets a
            # voter whose 202 was lost in transit still check that the ballot is counted.
            body["receipt"] = bk
        return common.respond(event, self.cfg, 200, body)

    def vote(self, event: dict, metrics: Metrics) -> dict:
        data = logic.parse_json_object(common.raw_body(event), VOTE_FIELDS, common.MAX_BODY_BYTES)
        canonical = logic.canonical_or_400(data["voter_id"])
        self._require_open()
        state, voted, bk = self._lookup(canonical)
        if voted:
            raise RequestError(409, "already_voted", "A ballot is already recorded for this voter ID.")
        if data["candidate"] not in self.cfg.ballot.for_state(state):
            raise RequestError(422, "candidate_not_on_ballot", "That candidate is not on this state's ballot.")
        home = self.cfg.state_regions.get(state, self.cfg.region)
        # No time on the message (it would order ballots); the tag lets `process` know it came from here.
        vote = logic.Vote.signed(self.key.message, bk=bk, state=state, candidate=data["candidate"],
                                 nonce=secrets.token_hex(16), region=home)
        where = self._send(vote)
        if where is None:
            metrics.add("NotStored")
            return common.error(event, self.cfg, 503, "vote_not_stored",
                                "Your vote could not be stored; nothing was recorded, please try again.")
        metrics.add("HandedOff" if where == "handoff" else "Queued")
        return common.respond(event, self.cfg, 202, {"receipt": bk})

    # --- helpers ---------------------------------------------------------------------------------

    def _require_open(self) -> None:
        """403 when the polls are closed; the cached ballot pepper is dropped then, so that once
        `close` destroys the secret no warm container still holds it past its next request."""
        if not self.polls.is_open():
            self.peppers.forget_ballot()
            raise RequestError(403, "polls_closed", "The polls are closed; no more votes are accepted.")

    def _lookup(self, canonical: str) -> tuple[str, bool, str]:
        """(state, already voted, ballot key) with one BatchGetItem of the voter and ballot; 404 if unknown.

        Both reads are eventually consistent (ConsistentRead is set per table in BatchGetItem and
        defaults to false; half a read unit per item up to 4 KB instead of one: "DynamoDB read and
        write operations", Amazon DynamoDB Developer Guide), spelt out so no one "fixes" it into
        strong reads that buy nothing here:
        - the voters roll is static once the polls open (`seed-voters` and the import write it before);
        - whether a ballot exists is a courtesy for the voter (POST /ballot's "voted", POST /votes's 409),
          not the rule: one ballot per voter is enforced by process's conditional PutItem. A vote cast a
          second before may not be seen yet; the second vote is then answered 202 with the same receipt
          (the ballot key), process refuses it as a duplicate (metric `Duplicates`) and the receipt shows
          the first ballot's status (docs/api.md, "Two votes sent by one voter").
        For the same reason a ballot key still unprocessed after the retries (a throttled provisioned
        ballots table) counts as "no ballot seen", while an unprocessed voter key is a 503.
        """
        vk = logic.voter_key(self.peppers.voter, canonical)
        bk = logic.ballot_key(self.peppers.ballot, canonical)
        keys: dict[str, Any] = {
            self.cfg.voters_table: {"Keys": [{contract.VOTERS_KEY: {"S": vk}}], "ProjectionExpression": "#s",
                                    "ExpressionAttributeNames": {"#s": "state"}, "ConsistentRead": False},
            self.cfg.ballots_table: {"Keys": [{contract.BALLOTS_KEY: {"S": bk}}],
                                     "ProjectionExpression": contract.BALLOTS_KEY, "ConsistentRead": False},
        }
        found: dict[str, list] = {}
        for attempt in range(5):
            resp = self.ddb.batch_get_item(RequestItems=keys)
            for table, items in resp.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            keys = resp.get("UnprocessedKeys") or {}
            if not keys:
                break
            time.sleep(0.02 * 2 ** attempt)
        else:
            if self.cfg.voters_table in keys:   # the roll is the rule: never guess a voter in or out
                raise RuntimeError("BatchGetItem kept returning unprocessed keys")
            # Only the ballot is still unread (a provisioned ballots table short of read capacity returns
            # its keys unprocessed): the check is a courtesy, so answer "not voted yet" rather than 503,
            # and process's conditional put refuses a second ballot as it always does.
        voters = found.get(self.cfg.voters_table, [])
        if not voters:
            raise RequestError(404, "unknown_voter", "No voter with this ID is on the roll.")
        return voters[0]["state"]["S"], bool(found.get(self.cfg.ballots_table)), bk

    def _send(self, vote: logic.Vote) -> str | None:
        """'home' or 'handoff' where the message was stored, None when both queues refused it."""
        body = vote.to_json()
        home_url = self.cfg.votes_queue_urls.get(vote.region)
        if home_url:
            try:
                self.sqs[vote.region].send_message(QueueUrl=home_url, MessageBody=body)
                return "home"
            except Exception:  # noqa: BLE001, S110 - any failure: try the hand-off queue
                pass
        try:
            self.sqs[self.cfg.region].send_message(QueueUrl=self.cfg.handoff_queue_url, MessageBody=body)
            return "handoff"
        except Exception:  # noqa: BLE001
            return None


def route_name(route: str) -> str:
    """A bounded metric dimension: the known route or 'other' (paths are caller-controlled)."""
    return route if route in contract.ROUTES else "other"


def make_handler(env: Mapping[str, str]) -> Handler:
    """Build one region's enqueue handler from its environment (clients created once, here)."""
    return Enqueue(env)


handler = common.LazyHandler(make_handler)
