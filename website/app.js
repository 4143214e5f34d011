// The voting page: hash routes #vote, #receipt[/<receipt>], #results.
// No inline scripts or styles anywhere, so the page runs under a strict CSP.

import { Api, ApiError, Unreachable } from "./api.js";
import { checkVoterId, groupVoterId, normaliseReceipt } from "./format.js";
import { initialLang, rememberLang, translate } from "./i18n.js";
import { LEADER_COLOURS, TURNOUT_STEPS, drawMap } from "./map.js";
import { parseResults } from "./results.js";
import { stateName } from "./states.js";

const REFRESH_S = 5;
const $ = (id) => document.getElementById(id);

let lang = initialLang();
const t = (key, vars) => translate(lang, key, vars);
/** key, or its ".one" form when count is 1 (both languages only need these two forms here). */
const tn = (key, count, vars) => t(count === 1 ? `${key}.one` : key, vars);

let config = null;
let api = null;

// --- language ------------------------------------------------------------------

function applyLang() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  const other = lang === "en" ? "es" : "en";
  $("lang").lang = other;
  rerender.forEach((fn) => fn());
}

const rerender = new Set();   // views that hold translated dynamic text redraw themselves

$("lang").addEventListener("click", () => {
  lang = lang === "en" ? "es" : "en";
  rememberLang(lang);
  applyLang();
});

function announce(text) {
  // Clear first so the same sentence twice is announced twice.
  $("live").textContent = "";
  window.setTimeout(() => { $("live").textContent = text; }, 30);
}

function showEndpoint() {   // under "Technical details" in the footer: not what a citizen needs to see
  $("endpoint").textContent = api && api.endpoint ? t("tech.api", { host: new URL(api.endpoint).host }) : "";
}
rerender.add(showEndpoint);

/** A receipt as groups of four that never break inside a group (each group is one unbreakable box). */
function groupedReceipt(el, receipt) {
  el.replaceChildren();
  for (const [i, group] of (receipt.match(/.{1,4}/g) || []).entries()) {
    if (i) el.append(" ");
    const span = document.createElement("span");
    span.className = "group";
    span.textContent = group;
    el.append(span);
  }
}

// --- routing -------------------------------------------------------------------

const views = { vote: $("view-vote"), receipt: $("view-receipt"), results: $("view-results") };

function route() {
  const [name, arg] = (location.hash.replace(/^#/, "") || "vote").split("/");
  const view = views[name] ? name : "vote";
  for (const [key, el] of Object.entries(views)) el.hidden = key !== view;
  currentView = view;
  renderTitle();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.route === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (view === "results") startResults(); else stopResults();
  if (view === "vote" && pollsClosed && !shownProblem) problem("closed");
  if (view === "receipt") openReceipt(arg);
  const heading = views[view].querySelector(".step:not([hidden]) h1") || views[view].querySelector("h1");
  if (heading && document.activeElement !== heading && routed) heading.focus();
  routed = true;
}
let routed = false;
let currentView = null;

/** The tab title names the view, so screen-reader users hear where a link took them. */
function renderTitle() {
  document.title = currentView ? `${t(`nav.${currentView}`)} · ${t("site.title")}` : t("site.title");
}
rerender.add(renderTitle);

// --- vote ----------------------------------------------------------------------

const vote = { id: null, state: null, candidates: [], choice: null, receipt: null, uncertain: false };

function showStep(id) {
  for (const step of $("view-vote").querySelectorAll(".step")) step.hidden = step.id !== id;
  const h = $(id).querySelector("h1");
  if (h) h.focus();
}

function fieldError(inputId, errorId, text) {
  $(errorId).textContent = text || "";
  if (text) $(inputId).setAttribute("aria-invalid", "true");
  else $(inputId).removeAttribute("aria-invalid");
}

// Paste-friendly: regroup as the voter types or pastes, keeping the caret sensible.
$("voter-id").addEventListener("input", (ev) => {
  const el = ev.target;
  const atEnd = el.selectionStart === el.value.length;
  const grouped = groupVoterId(el.value);
  const onlyValid = el.value.toUpperCase().replace(/[^0-9A-Z]/g, "").length <= 20;
  if (atEnd && onlyValid && grouped !== el.value) el.value = grouped;
  fieldError("voter-id", "voter-id-error", "");
});

$("id-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const checked = checkVoterId($("voter-id").value);
  if (!checked.id) {
    fieldError("voter-id", "voter-id-error", t(`id.${checked.problem}`, checked));
    $("voter-id").focus();
    return;
  }
  $("voter-id").value = checked.id;
  vote.id = checked.id;
  await lookUpBallot();
});

async function lookUpBallot() {
  const submit = $("id-form").querySelector("button[type=submit]");
  submit.disabled = true;
  announce(t("id.checking"));
  try {
    const b = await api.ballot(vote.id);
    showEndpoint();
    if (b.voted) return problem("already");
    if (b.polls_open === false) return problem("closed");
    vote.state = b.state;
    vote.candidates = b.candidates || [];
    if (!vote.candidates.includes(vote.choice)) vote.choice = null;
    renderBallot();
    showStep("ballot-form");
  } catch (err) {
    handleError(err, lookUpBallot, "id");
  } finally {
    submit.disabled = false;
  }
}

function renderBallot() {
  if (!vote.state) return;
  $("ballot-heading").textContent = t("ballot.heading", { state: stateName(vote.state, lang) });
  const box = $("candidates");
  box.replaceChildren();
  vote.candidates.forEach((name, i) => {
    const id = `cand-${i}`;
    const row = document.createElement("div");
    row.className = "choice";
    const input = document.createElement("input");
    Object.assign(input, { type: "radio", name: "candidate", id, value: name, checked: vote.choice === name });
    input.addEventListener("change", () => { vote.choice = name; $("ballot-error").textContent = ""; });
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = name;
    row.append(input, label);
    box.append(row);
  });
}
rerender.add(renderBallot);

$("ballot-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!vote.choice) {
    $("ballot-error").textContent = t("ballot.none");
    const first = $("candidates").querySelector("input");
    if (first) first.focus();
    return;
  }
  renderReview();
  showStep("review");
});

function renderReview() {
  $("review-choice").textContent = vote.choice || "";
  $("review-state").textContent = vote.state ? t("review.state", { state: stateName(vote.state, lang) }) : "";
}
rerender.add(renderReview);

$("ballot-back").addEventListener("click", () => {
  Object.assign(vote, { state: null, candidates: [], choice: null });
  showStep("id-form");
  $("voter-id").focus();
});

$("change").addEventListener("click", () => {
  showStep("ballot-form");
  const checked = $("candidates").querySelector("input:checked");
  if (checked) checked.focus();
});

$("confirm").addEventListener("click", () => castVote());

async function castVote() {
  const btn = $("confirm");
  if (btn.disabled) return;                    // a second click never sends a second vote
  btn.disabled = true;
  btn.textContent = t("review.sending");
  announce(t("review.sending"));
  try {
    const out = await api.castVote(vote.id, vote.choice, vote.uncertain);
    vote.uncertain = false;
    showEndpoint();
    showReceipt(out.receipt || null);
  } catch (err) {
    if (err instanceof Unreachable && err.uncertain) vote.uncertain = true;
    handleError(err, castVote, "vote");
  } finally {
    btn.disabled = false;
    btn.textContent = t("review.confirm");
  }
}

function showReceipt(receipt) {
  vote.receipt = receipt;
  $("receipt-box").hidden = !receipt;
  $("no-receipt").hidden = !!receipt;
  $("copy-status").textContent = "";
  if (receipt) {
    groupedReceipt($("receipt-code"), receipt);   // groups of four, easier to copy by hand
    $("check-link").href = `#receipt/${receipt}`;
  }
  showStep("done");
  announce(t("done.heading"));
}

$("copy").addEventListener("click", async () => {
  const text = vote.receipt || "";
  try {
    await navigator.clipboard.writeText(text);
    $("copy-status").textContent = t("done.copied");   // seen, and read out (role=status)
  } catch {
    const range = document.createRange();
    range.selectNodeContents($("receipt-code"));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    $("copy-status").textContent = t("done.copyfail");
  }
});

/** Show the right message for a failed request; `retry` re-runs the step that failed. */
function handleError(err, retry, where) {
  if (err instanceof ApiError) {
    if (err.status === 404 && where === "id") {
      fieldError("voter-id", "voter-id-error", t("id.unknown"));
      showStep("id-form");
      $("voter-id").focus();
      return;
    }
    if (err.status === 400 && where === "id") {
      fieldError("voter-id", "voter-id-error", t("id.length", { n: checkVoterId(vote.id).n ?? 20 }));
      showStep("id-form");
      return;
    }
    if (err.status === 409) return problem("already");
    if (err.status === 403) return problem("closed");
    if (err.status === 422) {
      vote.choice = null;
      renderBallot();
      showStep("ballot-form");
      $("ballot-error").textContent = t("invalid.candidate");
      return;
    }
    return problem("generic", retry, err.message);
  }
  return problem("network", retry);
}

let retryStep = null;

let shownProblem = null;   // {kind, message}, kept so a language switch redraws it

function problem(kind, retry = null, message = "") {
  shownProblem = { kind, message };
  renderProblem();
  retryStep = retry;
  $("retry").hidden = !retry;
  showStep("problem");
  announce(`${$("problem-heading").textContent}. ${$("problem-text").textContent}`);
}

function renderProblem() {
  if (!shownProblem) return;
  const { kind, message } = shownProblem;
  const heading = { already: "already.heading", closed: "closed.heading" }[kind] || "network.heading";
  let text = { already: "already.text", closed: "closed.text", network: "network.text" }[kind];
  if (kind === "network" && vote.uncertain) text = "uncertain.text";
  $("problem-heading").textContent = t(heading);
  $("problem-text").textContent = text ? t(text) : t("error.generic", { message });
  $("closed-results").hidden = kind !== "closed";
}
rerender.add(renderProblem);

$("retry").addEventListener("click", () => {
  const step = retryStep;
  if (!step) return;
  // Go back to where the voter was (their ID and choice are kept) and try again from there.
  showStep(step === castVote ? "review" : "id-form");
  step();
});

// "Start again" after a problem, "Finish" after voting: forget this voter (shared devices).
for (const btn of document.querySelectorAll("button.again")) {
  btn.addEventListener("click", () => {
    Object.assign(vote, { id: null, state: null, candidates: [], choice: null, receipt: null, uncertain: false });
    shownProblem = null;
    $("voter-id").value = "";
    fieldError("voter-id", "voter-id-error", "");
    showStep("id-form");
  });
}

// --- receipt check -------------------------------------------------------------

function openReceipt(arg) {
  if (arg && normaliseReceipt(arg)) {
    $("receipt-input").value = normaliseReceipt(arg);
    checkReceipt();
  }
}

$("receipt-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  checkReceipt();
});

let lastReceiptStatus = null;

async function checkReceipt() {
  const receipt = normaliseReceipt($("receipt-input").value);
  $("receipt-status").hidden = true;
  if (!receipt) {
    fieldError("receipt-input", "receipt-error", t("receipt.bad"));
    $("receipt-input").focus();
    return;
  }
  $("receipt-input").value = receipt;
  groupedReceipt($("receipt-shown"), receipt);          // the same grouping as on the receipt itself
  fieldError("receipt-input", "receipt-error", "");
  announce(t("receipt.checking"));
  try {
    const out = await api.receipt(receipt);
    showEndpoint();
    lastReceiptStatus = ["recorded", "counted"].includes(out.status) ? out.status : "unknown";
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) lastReceiptStatus = "unknown";
    else if (err instanceof ApiError && err.status === 400) {
      fieldError("receipt-input", "receipt-error", t("receipt.bad"));
      return;
    } else {
      fieldError("receipt-input", "receipt-error", t("network.text"));
      return;
    }
  }
  renderReceiptStatus();
  announce($("receipt-status").textContent);
}

function renderReceiptStatus() {
  if (!lastReceiptStatus) return;
  const el = $("receipt-status");
  el.textContent = t(`receipt.${lastReceiptStatus}`);
  el.dataset.status = lastReceiptStatus;
  el.hidden = false;
  $("receipt-shown").hidden = false;
}
rerender.add(renderReceiptStatus);

// --- results -------------------------------------------------------------------

let resultsTimer = null;
let paused = false;
let lastResults = null;
let lastUpdated = null;

let pollsClosed = false;     // the results are final: the polls are closed

function startResults() {
  if (resultsTimer || paused) return;
  refreshResults();
  resultsTimer = window.setInterval(refreshResults, REFRESH_S * 1000);
}

function stopResults() {
  if (resultsTimer) window.clearInterval(resultsTimer);
  resultsTimer = null;
}

async function refreshResults() {
  try {
    const data = await api.results();
    showEndpoint();
    lastResults = parseResults(data, config.ballot);
    lastUpdated = lastResults.updatedAt || new Date();
    $("results-error").textContent = "";
    if (lastResults.final) {            // final means final: nothing more to refresh
      pollsClosed = true;
      stopResults();
    }
    renderResults();
  } catch {
    $("results-error").textContent = t("results.failed");
  }
}

$("pause").addEventListener("click", () => {
  paused = !paused;
  if (paused) stopResults(); else startResults();
  renderResultsMeta();
  announce(t(paused ? "results.paused" : "results.live", { s: REFRESH_S }));
});

$("state-filter").addEventListener("change", () => renderResults());

function renderResultsMeta() {
  const final = !!(lastResults && lastResults.final);
  $("results-heading").textContent = t(final ? "results.final" : "results.heading");
  $("pause").hidden = final;
  $("pause").textContent = t(paused ? "results.resume" : "results.pause");
  $("pause").setAttribute("aria-pressed", String(paused));
  $("live-note").textContent = final ? t("results.finalnote")
    : t(paused ? "results.paused" : "results.live", { s: REFRESH_S });
  $("updated").textContent = lastUpdated
    ? t("results.updated", { time: lastUpdated.toLocaleTimeString(lang) })
    : t("results.never");
}
rerender.add(renderResultsMeta);

function fmt(n) { return n.toLocaleString(lang); }
function pct(share) { return `${(100 * share).toLocaleString(lang, { maximumFractionDigits: 1 })}%`; }

/** Bars as shares of the votes cast (a candidate with 48.5 % fills 48.5 % of the track; 0 votes, nothing). */
function bars(list, counts) {
  const total = counts.reduce((a, [, n]) => a + n, 0);
  list.replaceChildren();
  for (const [name, n] of counts) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "bar-name";
    label.textContent = name;
    const value = document.createElement("span");
    value.className = "bar-value";
    const share = total ? n / total : 0;
    value.textContent = tn("results.votes", n, { n: fmt(n), p: pct(share) });
    const track = document.createElement("span");
    track.className = "bar-track";
    track.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.width = `${100 * share}%`;     // CSSOM, allowed under style-src 'self'
    if (!n) fill.hidden = true;
    track.append(fill);
    li.append(label, value, track);
    list.append(li);
  }
  return total;
}

/** Each candidate's colour on the map: by place on the national ballot (then any state-only ones). */
function colourOf(name) {
  const everyone = [...(config.ballot.candidates || [])];
  for (const names of Object.values(config.ballot.overrides || {})) everyone.push(...names.filter((n) => !everyone.includes(n)));
  return LEADER_COLOURS[Math.max(0, everyone.indexOf(name)) % LEADER_COLOURS.length];
}

const mapWords = {
  what(facts) {
    if (facts.kind === "leader") return t("map.leads", { name: facts.leader, p: pct(facts.share) });
    if (facts.kind === "tie") return t("map.tie");
    if (facts.kind === "none") return t("map.none");
    return tn("results.total", facts.total, { n: fmt(facts.total) });
  },
  tile(state, facts) { return `${stateName(state, lang)}: ${this.what(facts)}`; },
  row(state, facts) {
    return [stateName(state, lang), facts.kind === "turnout" ? "" : this.what(facts), fmt(facts.total || 0)];
  },
};

function pickState(state) {
  $("state-filter").value = state;
  renderResults();
  const card = document.querySelector(`#states section[aria-labelledby="st-${state}"] h3`);
  if (card) {
    card.tabIndex = -1;
    card.focus();
  }
}

function renderLegend(parsed) {
  const legend = $("map-legend");
  legend.replaceChildren();
  const item = (bg, text) => {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.setAttribute("aria-hidden", "true");
    swatch.style.backgroundColor = bg;
    li.append(swatch, text);
    legend.append(li);
  };
  if (parsed.breakdown) {
    const leaders = new Set(Object.values(parsed.states).map((b) => {
      if (!b.counts) return null;
      const top = Math.max(...b.counts.map(([, n]) => n));
      const first = b.counts.filter(([, n]) => n === top);
      return top > 0 && first.length === 1 ? first[0][0] : null;
    }).filter(Boolean));
    for (const name of leaders) item(colourOf(name), t("map.legend.leads", { name }));
    item(TURNOUT_STEPS[0].bg, t("map.none"));
  } else {
    item(TURNOUT_STEPS[0].bg, t("map.legend.fewest"));
    item(TURNOUT_STEPS[3].bg, t("map.legend.most"));
  }
}

function renderResults() {
  renderResultsMeta();
  if (!lastResults) return;
  const parsed = lastResults;
  $("turnout-only").hidden = parsed.breakdown;
  $("national").hidden = !parsed.breakdown;
  if (parsed.breakdown) bars($("national"), parsed.national);
  $("national-total").textContent = tn("results.total", parsed.total, { n: fmt(parsed.total) });
  $("map-help").textContent = t(parsed.breakdown ? "map.help.leader" : "map.help.turnout");
  $("map-col-what").textContent = t(parsed.breakdown ? "map.col.leader" : "map.col.turnout");
  drawMap($("map"), $("map-table"), parsed, mapWords, colourOf, pickState);
  renderLegend(parsed);

  const filter = $("state-filter");
  const states = Object.keys(parsed.states)
    .sort((a, b) => stateName(a, lang).localeCompare(stateName(b, lang), lang));
  if (filter.options.length !== states.length + 1 || filter.dataset.lang !== lang) {
    const keep = filter.value;
    filter.dataset.lang = lang;
    filter.replaceChildren(filter.options[0]);
    for (const s of states) filter.append(new Option(stateName(s, lang), s));
    filter.value = keep;
  }
  const shown = filter.value ? [filter.value] : states;
  const grid = $("states");
  grid.replaceChildren();
  for (const s of shown) {
    const card = document.createElement("section");
    card.className = "card state";
    card.setAttribute("aria-labelledby", `st-${s}`);
    const h = document.createElement("h3");
    h.id = `st-${s}`;
    h.textContent = stateName(s, lang);
    const sub = document.createElement("p");
    sub.className = "hint";
    card.append(h, sub);
    const block = parsed.states[s];
    if (block.counts) {
      const ol = document.createElement("ol");
      ol.className = "bars";
      card.append(ol);
      bars(ol, block.counts);
    }
    sub.textContent = tn("results.total", block.total, { n: fmt(block.total) });
    grid.append(card);
  }
}
rerender.add(renderResults);

// --- start ---------------------------------------------------------------------

async function boot() {
  applyLang();
  try {
    const res = await fetch("config.json", { cache: "no-store" });
    if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
    config = await res.json();
    api = new Api(config.api);
  } catch {
    $("boot").textContent = t("config.failed");
    $("boot").setAttribute("role", "alert");
    return;
  }
  $("boot").hidden = true;
  // No request here: the ID lookup (POST /ballot: polls_open) or the vote (403) says when the
  // polls are closed, so opening the page costs no API request (bench/pipeline_cost.py PAGE_REQUESTS).
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "true";   // tests wait for this
}

boot();
