// GET /results body -> what the charts draw: candidates in ballot order, with counts.
// The API answers {"updated_at", "total", "candidates": {name: n}, "states": {ST: {"total", "candidates"}}}.

/** Counts out of one block of the body: {cand: n}, {"candidates": {...}} or {"counts": {...}}. */
function countsOf(block) {
  if (!block || typeof block !== "object") return {};
  const inner = block.candidates ?? block.counts ?? block.votes ?? block;
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

/**
 * Normalise a results body: {national: [[name, n]...], states: {ST: [[name, n]...]}, updatedAt: Date|null}.
 * `ballot` is config.json's {"candidates", "overrides"}; a state's chart follows its own ballot.
 */
export function parseResults(data, ballot = { candidates: [], overrides: {} }) {
  const everyone = [...(ballot.candidates || [])];
  for (const names of Object.values(ballot.overrides || {})) everyone.push(...names.filter((n) => !everyone.includes(n)));
  const national = ordered(countsOf(data.national ?? data), everyone);
  const states = {};
  const raw = data.states ?? data.by_state ?? {};
  const entries = Array.isArray(raw) ? raw.map((s) => [s.state, s]) : Object.entries(raw);
  for (const [state, block] of entries) {
    const names = (ballot.overrides && ballot.overrides[state]) || ballot.candidates || [];
    states[state] = ordered(countsOf(block), names);
  }
  const when = data.updated_at ? new Date(data.updated_at) : null;
  return { national, states, updatedAt: when && !isNaN(when) ? when : null };
}
