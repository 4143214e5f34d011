// GET /results body -> what the page draws. The API always answers
//   {"updated_at", "final", "live", "total", "states": {ST: {"total": n, ...}}}
// and adds "candidates" ({name: n}, national and per state) only when the results are final (polls
// closed, final tally done) or the plan publishes them live. Before that the page shows turnout only.

/** Counts out of one block of the body: {cand: n}, {"candidates": {...}} or [{name, votes}...]; null if none. */
function countsOf(block) {
  if (!block || typeof block !== "object") return null;
  const inner = block.candidates ?? block.counts ?? null;
  if (inner === null || typeof inner !== "object") return null;
  if (Array.isArray(inner)) {
    return Object.fromEntries(inner.map((c) => [c.name ?? c.candidate, Number(c.votes ?? c.count ?? 0)]));
  }
  return Object.fromEntries(Object.entries(inner).filter(([, n]) => typeof n === "number"));
}

/** Order candidates as on the ballot (national list, then any others), zero when absent. */
function ordered(counts, names) {
  const all = [...names, ...Object.keys(counts).filter((n) => !names.includes(n))];
  return all.map((name) => [name, Number(counts[name] ?? 0)]);
}

const sum = (pairs) => pairs.reduce((a, [, n]) => a + n, 0);

/**
 * Normalise a results body: {breakdown, final, live, total, national: [[name, n]...] | null,
 * states: {ST: {total, counts: [[name, n]...] | null}}, updatedAt: Date|null}.
 * `ballot` is config.json's {"candidates", "overrides"}; a state's chart follows its own ballot.
 */
export function parseResults(data, ballot = { candidates: [], overrides: {} }) {
  const everyone = [...(ballot.candidates || [])];
  for (const names of Object.values(ballot.overrides || {})) everyone.push(...names.filter((n) => !everyone.includes(n)));
  const nationalCounts = countsOf(data.national ?? data);
  const national = nationalCounts ? ordered(nationalCounts, everyone) : null;
  const states = {};
  const raw = data.states ?? data.by_state ?? {};
  const entries = Array.isArray(raw) ? raw.map((s) => [s.state, s]) : Object.entries(raw);
  for (const [state, block] of entries) {
    const names = (ballot.overrides && ballot.overrides[state]) || ballot.candidates || [];
    const counts = countsOf(block);
    const pairs = counts ? ordered(counts, names) : null;
    const total = Number(block?.total ?? (pairs ? sum(pairs) : 0)) || 0;
    states[state] = { total, counts: pairs };
  }
  const when = data.updated_at ? new Date(data.updated_at) : null;
  const total = Number(data.total ?? (national ? sum(national) : 0)) || 0;
  return {
    breakdown: national !== null, final: data.final === true, live: data.live === true,
    total, national, states, updatedAt: when && !isNaN(when) ? when : null,
  };
}
