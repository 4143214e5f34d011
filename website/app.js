// The voting page: hash routes #vote, #receipt[/<receipt>], #results.
// No inline scripts or styles anywhere, so the page runs under a strict CSP.

import { Api, ApiError, Unreachable } from "./api.js";
import { checkVoterId, groupVoterId, normaliseReceipt } from "./format.js";
import { initialLang, rememberLang, translate } from "./i18n.js";
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

function showEndpoint() {
  $("endpoint").textContent = api && api.endpoint ? `API: ${new URL(api.endpoint).host}` : "";
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
  if (receipt) {
    $("receipt-code").textContent = receipt.match(/.{1,4}/g).join(" ");   // groups of four, easier to copy by hand
    $("check-link").href = `#receipt/${receipt}`;
  }
  showStep("done");
  announce(t("done.heading"));
}

$("copy").addEventListener("click", async () => {
  const text = vote.receipt || "";
  try {
    await navigator.clipboard.writeText(text);
    announce(t("done.copied"));
  } catch {
    const range = document.createRange();
    range.selectNodeContents($("receipt-code"));
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    announce(t("done.copyfail"));
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
}
rerender.add(renderReceiptStatus);

// --- results -------------------------------------------------------------------

let resultsTimer = null;
let paused = false;
let lastResults = null;
let lastUpdated = null;

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
  $("pause").textContent = t(paused ? "results.resume" : "results.pause");
  $("pause").setAttribute("aria-pressed", String(paused));
  $("live-note").textContent = t(paused ? "results.paused" : "results.live", { s: REFRESH_S });
  $("updated").textContent = lastUpdated
    ? t("results.updated", { time: lastUpdated.toLocaleTimeString(lang) })
    : t("results.never");
}
rerender.add(renderResultsMeta);

function fmt(n) { return n.toLocaleString(lang); }

function bars(list, counts) {
  const total = counts.reduce((a, [, n]) => a + n, 0);
  const max = Math.max(1, ...counts.map(([, n]) => n));
  list.replaceChildren();
  for (const [name, n] of counts) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "bar-name";
    label.textContent = name;
    const value = document.createElement("span");
    value.className = "bar-value";
    const pct = total ? (100 * n) / total : 0;
    value.textContent = tn("results.votes", n, { n: fmt(n), p: `${pct.toLocaleString(lang, { maximumFractionDigits: 1 })}%` });
    const track = document.createElement("span");
    track.className = "bar-track";
    track.setAttribute("aria-hidden", "true");
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.width = `${(100 * n) / max}%`;     // CSSOM, allowed under style-src 'self'
    track.append(fill);
    li.append(label, value, track);
    list.append(li);
  }
  return total;
}

function renderResults() {
  renderResultsMeta();
  if (!lastResults) return;
  const total = bars($("national"), lastResults.national);
  $("national-total").textContent = tn("results.total", total, { n: fmt(total) });

  const filter = $("state-filter");
  const states = Object.keys(lastResults.states)
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
    const ol = document.createElement("ol");
    ol.className = "bars";
    card.append(h, sub, ol);
    const stTotal = bars(ol, lastResults.states[s]);
    sub.textContent = tn("results.total", stTotal, { n: fmt(stTotal) });
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
  window.addEventListener("hashchange", route);
  route();
  document.body.dataset.ready = "true";   // tests wait for this
}

boot();
