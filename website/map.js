// The results map: an equal-area tile grid (every state one square, no geometry data, no third-party
// host). Each tile is a button in one tab stop (arrow keys move between tiles, as in a grid); its name
// says the state and what the colour shows, and choosing it shows that state's card below. A table
// with the same facts is offered next to it for anyone who prefers one.

/** [column, row] of each state's tile (11 x 8), the usual tile-grid arrangement of the US. */
export const TILES = {
  AK: [0, 0], ME: [10, 0],
  VT: [9, 1], NH: [10, 1],
  WA: [0, 2], ID: [1, 2], MT: [2, 2], ND: [3, 2], MN: [4, 2], IL: [5, 2], WI: [6, 2], MI: [7, 2], NY: [8, 2],
  RI: [9, 2], MA: [10, 2],
  OR: [0, 3], NV: [1, 3], WY: [2, 3], SD: [3, 3], IA: [4, 3], IN: [5, 3], OH: [6, 3], PA: [7, 3], NJ: [8, 3],
  CT: [9, 3],
  CA: [0, 4], UT: [1, 4], CO: [2, 4], NE: [3, 4], MO: [4, 4], KY: [5, 4], WV: [6, 4], VA: [7, 4], MD: [8, 4],
  DE: [9, 4],
  AZ: [1, 5], NM: [2, 5], KS: [3, 5], AR: [4, 5], TN: [5, 5], NC: [6, 5], SC: [7, 5], DC: [8, 5],
  OK: [3, 6], LA: [4, 6], MS: [5, 6], AL: [6, 6], GA: [7, 6],
  HI: [0, 7], TX: [3, 7], FL: [8, 7],
};

// Candidate colours in ballot order; each carries white text at >= 4.5:1 (WCAG AA).
export const LEADER_COLOURS = ["#1d4ed8", "#b3261e", "#7a4f00", "#1f6f3a", "#6b21a8", "#0e6470"];
const TIE = "#4a5160";
// Turnout, light to dark: the two light steps carry dark text, the dark ones white.
export const TURNOUT_STEPS = [
  { bg: "#e3e8f1", ink: "#1b1f29" }, { bg: "#b9cbef", ink: "#1b1f29" },
  { bg: "#2f5fc9", ink: "#ffffff" }, { bg: "#1e3a8a", ink: "#ffffff" },
];

/** What a state's tile shows: {kind: "leader"|"tie"|"none"|"turnout", leader, share, step}. */
export function tileFacts(state, parsed, maxTotal) {
  const block = parsed.states[state] || { total: 0, counts: null };
  if (parsed.breakdown && !parsed.states[state]) return { kind: "none", total: 0 };   // not in the results: no votes
  if (!parsed.breakdown || !block.counts) {
    const step = block.total && maxTotal ? Math.min(3, 1 + Math.floor((2.999 * block.total) / maxTotal)) : 0;
    return { kind: "turnout", total: block.total, step };
  }
  const total = block.counts.reduce((a, [, n]) => a + n, 0);
  if (!total) return { kind: "none", total: 0 };
  const top = Math.max(...block.counts.map(([, n]) => n));
  const leaders = block.counts.filter(([, n]) => n === top);
  if (leaders.length > 1) return { kind: "tie", total, share: top / total };
  return { kind: "leader", total, leader: leaders[0][0], share: top / total };
}

/**
 * Draw the map into `grid` and the table into `table` (a <table>'s <tbody>), for `parsed` results.
 * `words` gives translated sentences: words.tile(state, facts), words.row(state, facts) -> [cells].
 * `colourOf(name)` picks a candidate's colour; `onPick(state)` runs when a tile is chosen.
 */
export function drawMap(grid, tbody, parsed, words, colourOf, onPick) {
  const codes = Object.keys(TILES);
  const maxTotal = Math.max(0, ...codes.map((s) => (parsed.states[s] || {}).total || 0));
  const focused = grid.querySelector("button[tabindex='0']")?.dataset.state || codes[0];
  const hadFocus = grid.contains(document.activeElement);   // a live refresh must not steal the reader's place
  grid.replaceChildren();
  tbody.replaceChildren();
  for (const state of codes) {
    const [col, row] = TILES[state];
    const facts = tileFacts(state, parsed, maxTotal);
    const tile = document.createElement("button");
    tile.type = "button";
    tile.className = "tile";
    tile.dataset.state = state;
    tile.dataset.kind = facts.kind;
    const code = document.createElement("span");     // what is seen: the postal code
    code.setAttribute("aria-hidden", "true");
    code.textContent = state;
    const name = document.createElement("span");     // what is read: the state and what its colour says
    name.className = "visually-hidden";
    name.textContent = words.tile(state, facts);
    tile.append(code, name);
    tile.tabIndex = state === focused ? 0 : -1;
    tile.style.gridColumn = String(col + 1);     // CSSOM, allowed under style-src 'self'
    tile.style.gridRow = String(row + 1);
    const paint = facts.kind === "leader" ? { bg: colourOf(facts.leader), ink: "#ffffff" }
      : facts.kind === "tie" ? { bg: TIE, ink: "#ffffff" }
        : facts.kind === "turnout" ? TURNOUT_STEPS[facts.step] : TURNOUT_STEPS[0];
    tile.style.backgroundColor = paint.bg;
    tile.style.color = paint.ink;
    tile.addEventListener("click", () => onPick(state));
    tile.addEventListener("keydown", (ev) => moveFocus(grid, state, ev));
    grid.append(tile);
    const tr = document.createElement("tr");
    for (const [i, text] of words.row(state, facts).entries()) {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      cell.textContent = text;
      tr.append(cell);
    }
    tbody.append(tr);
  }
  if (hadFocus) grid.querySelector(`button[data-state="${focused}"]`)?.focus();
}

/** Arrow keys: the nearest tile in that direction (same row or column first), Home/End: first/last. */
function moveFocus(grid, from, ev) {
  const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  let next = null;
  if (ev.key === "Home" || ev.key === "End") {
    const codes = Object.keys(TILES);
    next = ev.key === "Home" ? codes[0] : codes[codes.length - 1];
  } else if (steps[ev.key]) {
    next = nearest(from, steps[ev.key]);
  }
  if (!next) return;
  ev.preventDefault();
  for (const b of grid.querySelectorAll("button")) b.tabIndex = b.dataset.state === next ? 0 : -1;
  grid.querySelector(`button[data-state="${next}"]`).focus();
}

export function nearest(from, [dx, dy]) {
  const [x, y] = TILES[from];
  let best = null;
  let bestCost = Infinity;
  for (const [s, [sx, sy]] of Object.entries(TILES)) {
    const along = dx ? (sx - x) * dx : (sy - y) * dy;
    const across = dx ? Math.abs(sy - y) : Math.abs(sx - x);
    if (along <= 0) continue;
    const cost = along + 3 * across;
    if (cost < bestCost) { best = s; bestCost = cost; }
  }
  return best;
}
