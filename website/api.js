// Talking to the election API across several regional endpoints.
//
// config.json lists API base URLs, preferred first. We send to the first one
// straight away (a health check before every visit would be one more billed API
// request per vote) and move on when one fails: only then GET /health picks the
// next endpoint that answers 200. Reads (POST /ballot is a read too) are retried
// on the next endpoint automatically. A vote is sent to
// exactly one endpoint per attempt: if its answer is lost we cannot know whether
// it was stored, so the caller must check (POST /ballot "voted") before it sends
// anything again. See castVote().

const HEALTH_TIMEOUT_MS = 3000;
const REQUEST_TIMEOUT_MS = 8000;
const DOWN_FOR_MS = 30000;        // how long a failed endpoint is tried only as a last resort
const FAILOVER_STATUS = new Set([502, 503, 504]);

/** The API answered with an error body {"error": code, "message": sentence}. */
export class ApiError extends Error {
  constructor(status, code, message, body = null) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** No endpoint could be reached (network trouble). */
export class Unreachable extends Error {}

/** Read and drop a body we do not need, so the request completes and its connection is reused. */
async function drain(res) {
  try { await res.arrayBuffer(); } catch { /* the body is gone anyway */ }
}

export class Api {
  constructor(bases, { fetchImpl = (...a) => window.fetch(...a), now = () => Date.now() } = {}) {
    if (!Array.isArray(bases) || bases.length === 0) throw new Error("config.json lists no API endpoint");
    this.bases = bases.map((b) => String(b).replace(/\/+$/, ""));
    this.fetch = fetchImpl;
    this.now = now;
    this.current = null;      // index into bases of the endpoint in use
    this.downSince = new Map();
  }

  /** Base URL in use (for tests and the footer), or null before the first request. */
  get endpoint() { return this.current === null ? null : this.bases[this.current]; }

  /** Forget the endpoint in use after it failed; it is tried again only when no other is healthy. */
  markDown(index) {
    this.downSince.set(index, this.now());
    if (this.current === index) this.current = null;
  }

  /**
   * Index of the endpoint to use: the current one; before anything failed, the preferred one
   * without asking; after a failure, the first one whose GET /health answers 200, in preference
   * order (those that failed in the last DOWN_FOR_MS last).
   */
  async choose() {
    if (this.current !== null) return this.current;
    if (this.downSince.size === 0) {
      this.current = 0;
      return 0;
    }
    const now = this.now();
    const fresh = [], stale = [];
    this.bases.forEach((_, i) => {
      const since = this.downSince.get(i);
      (since !== undefined && now - since < DOWN_FOR_MS ? stale : fresh).push(i);
    });
    for (const i of [...fresh, ...stale]) {
      try {
        const res = await this._fetch(i, "GET", "/health", undefined, HEALTH_TIMEOUT_MS);
        await drain(res);
        if (res.ok) {
          this.downSince.delete(i);
          this.current = i;
          return i;
        }
      } catch { /* unreachable: try the next one */ }
      this.downSince.set(i, this.now());
    }
    throw new Unreachable("no healthy API endpoint");
  }

  async _fetch(index, method, path, body, timeoutMs = REQUEST_TIMEOUT_MS) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    try {
      // No Content-Type header: a string body goes as text/plain, which keeps the POST a CORS
      // "simple request". With application/json the browser would first send an OPTIONS preflight
      // to each URL (every 5 minutes at most, the API's max-age), and API Gateway bills those too.
      // The API parses the body as JSON whatever its content type.
      return await this.fetch(this.bases[index] + path, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
        signal: ctl.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Parse a response: the JSON body when 2xx, else throw ApiError. */
  static async _read(res) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    if (res.ok) return data ?? {};
    const code = (data && data.error) || `http_${res.status}`;
    throw new ApiError(res.status, code, data && data.message, data);
  }

  /** A request that is safe to repeat: on network failure or 502/503/504, fail over and retry. */
  async read(method, path, body) {
    for (let attempt = 0; attempt <= this.bases.length; attempt++) {
      const i = await this.choose();
      let res;
      try {
        res = await this._fetch(i, method, path, body);
      } catch {
        this.markDown(i);
        continue;
      }
      if (FAILOVER_STATUS.has(res.status)) {
        await drain(res);
        this.markDown(i);
        continue;
      }
      return Api._read(res);
    }
    throw new Unreachable("every API endpoint failed");
  }

  ballot(voterId) { return this.read("POST", "/ballot", { voter_id: voterId }); }
  results(state) { return this.read("GET", "/results" + (state ? `?state=${encodeURIComponent(state)}` : "")); }
  receipt(receipt) { return this.read("GET", `/receipts/${encodeURIComponent(receipt)}`); }

  /**
   * Send a vote to ONE endpoint, once. Returns {receipt} on 202; throws ApiError on a
   * definite refusal (4xx); returns {uncertain: true} when no definite answer came back
   * (network error, timeout, 5xx), after marking that endpoint down.
   */
  async sendVoteOnce(voterId, candidate) {
    const i = await this.choose();
    let res;
    try {
      res = await this._fetch(i, "POST", "/votes", { voter_id: voterId, candidate });
    } catch {
      this.markDown(i);
      return { uncertain: true };
    }
    if (res.status >= 500) {
      await drain(res);
      this.markDown(i);
      return { uncertain: true };
    }
    return Api._read(res);
  }

  /**
   * Cast a vote without ever sending it blindly twice. `afterUncertain` is true when an
   * earlier attempt got no answer: then we first ask POST /ballot whether a ballot is
   * already recorded, and a 409 on the re-send means our earlier attempt landed.
   * Returns {receipt} | {recorded: true, receipt?} ; throws ApiError / Unreachable.
   */
  async castVote(voterId, candidate, afterUncertain = false) {
    let uncertain = afterUncertain;
    try {
      for (let attempt = 0; attempt <= this.bases.length; attempt++) {
        if (uncertain) {
          const state = await this.ballot(voterId);   // fails over by itself; throws Unreachable
          if (state.voted) return { recorded: true, receipt: state.receipt };
        }
        let out;
        try {
          out = await this.sendVoteOnce(voterId, candidate);
        } catch (err) {
          if (uncertain && err instanceof ApiError && err.status === 409) {
            return { recorded: true, receipt: err.body && err.body.receipt };
          }
          throw err;
        }
        if (!out.uncertain) return out;
        uncertain = true;
      }
      throw new Unreachable("the vote could not be confirmed");
    } catch (err) {
      if (err instanceof Unreachable) err.uncertain = uncertain;   // the caller must check before re-sending
      throw err;
    }
  }
}
