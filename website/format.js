// Voter ID and receipt formats, mirrored from election/lambdas/contract.py so the
// page can catch typos before anything is sent.

export const ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";   // no 0/O, 1/I look-alikes

/** Upper-case, keep letters and digits only: what a voter pasted, as compact characters. */
export function compactVoterId(raw) {
  return String(raw).toUpperCase().replace(/[^0-9A-Z]/g, "");
}

/** Regroup compact characters in fives with hyphens, as printed on the letter. */
export function groupVoterId(raw) {
  const compact = compactVoterId(raw).slice(0, 20);
  return compact.match(/.{1,5}/g)?.join("-") ?? "";
}

/**
 * Check a typed voter ID. Returns {id} with the canonical form, or {problem, ...}:
 * "empty", "badchars" (chars: the offending characters), "length" (n: how many).
 */
export function checkVoterId(raw) {
  const compact = compactVoterId(raw);
  if (!compact) return { problem: "empty" };
  const bad = [...new Set([...compact].filter((c) => !ALPHABET.includes(c)))];
  if (bad.length) return { problem: "badchars", chars: bad.join(", ") };
  if (compact.length !== 20) return { problem: "length", n: compact.length };
  return { id: groupVoterId(compact) };
}

/** A receipt as typed or pasted: lower case, hex digits only; null unless 32 of them. */
export function normaliseReceipt(raw) {
  const hex = String(raw).toLowerCase().replace(/[\s-]/g, "");
  return /^[0-9a-f]{32}$/.test(hex) ? hex : null;
}
