"use strict";

// The page itself: state, talking to the API, live updates, event handlers. Elements are built
// by render.js (loaded first), which holds the rules for rendering outside data safely.

// ---- settings ------------------------------------------------------------------------------
const JOBS_LIMIT = 50;
const DRAFTS_LIMIT = 50;
const POLL_MS = 2000;              // fallback polling of running jobs while the socket is down
const RELIST_EVERY_POLLS = 5;      // ...and a fresh job list every 5th poll, to catch new jobs
const DRAFTS_REFRESH_MS = 3000;    // drafts refresh while a discovery runs
const STALE_MS = 5000;             // a running job the socket has not mentioned this long is asked about directly
const RELIST_LIVE_MS = 30000;      // the list is re-read this often even while the socket is up
const WS_BACKOFF_START_MS = 1000;
const WS_BACKOFF_MAX_MS = 30000;
const CANCEL_REASON = "cancelled from the dashboard";

const CAN_START_JOBS = new Set(["admin", "manager", "user"]);
const CAN_EDIT_DRAFTS = new Set(["admin", "manager"]);
const CAN_SYNC_1C = new Set(["admin", "manager"]);  // as the API allows: only admins and managers start a 1C sync
const STORE = { access: "longrun.access", refresh: "longrun.refresh", user: "longrun.user" };

// ---- small helpers -------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

function showError(el, error) {
  el.textContent = error instanceof Error ? error.message : String(error);
  el.hidden = false;
}

function clearError(el) {
  el.hidden = true;
  el.textContent = "";
}

// ---- talking to the API --------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** FastAPI's `detail`: a string, or a list of {loc, msg} — shown as "field: msg". */
function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => {
      if (!item || typeof item !== "object") return String(item);
      let loc = Array.isArray(item.loc) ? item.loc.slice() : [];
      if (["body", "query", "path", "header"].includes(loc[0])) loc = loc.slice(1);
      const field = loc.join(".").replace(/_/g, " ");
      return field ? `${field}: ${item.msg}` : String(item.msg);
    }).join("\n");
  }
  if (detail && typeof detail === "object") return JSON.stringify(detail);
  return "";
}

const session = {
  get access() { return localStorage.getItem(STORE.access); },
  get refresh() { return localStorage.getItem(STORE.refresh); },
  get user() {
    try { return JSON.parse(localStorage.getItem(STORE.user) || "null"); } catch { return null; }
  },
  save({ access, refresh, user }) {
    if (access) localStorage.setItem(STORE.access, access);
    if (refresh) localStorage.setItem(STORE.refresh, refresh);
    if (user) localStorage.setItem(STORE.user, JSON.stringify(user));
  },
  clear() {
    for (const key of Object.values(STORE)) localStorage.removeItem(key);
  },
};

async function send(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "Cannot reach the Longrun server. Check your connection and try again.");
  }
}

async function readBody(response) {
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const said = data && describeDetail(data.detail);
    const fallback = response.status >= 500
      ? `The server had a problem (HTTP ${response.status}). Try again shortly.`
      : `The request failed (HTTP ${response.status} ${response.statusText}).`;
    throw new ApiError(response.status, said || fallback);
  }
  return data;
}

let refreshing = null;

/** Swap the refresh token for a new access token; concurrent callers share one request. */
function refreshAccess() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = session.refresh;
      if (!token) throw new ApiError(401, "Please sign in.");
      const data = await readBody(await send("POST", "/api/token/refresh/", { refresh: token }));
      // The refresh token just sent is spent: keep the one that replaces it (none when another tab already has).
      session.save({ access: data.access, refresh: data.refresh });
      adoptClaims(data.access);
      return data.access;
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** The refreshed token may carry a changed role: show what it says (display only, not trust). */
function adoptClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    const user = session.user || {};
    session.save({ user: { ...user, id: claims.uid ?? user.id, username: claims.sub ?? user.username, role: claims.role ?? user.role } });
    renderWhoami();
  } catch { /* not a JWT we can read: keep what we had */ }
}

/** An authenticated call: on a 401, refresh the access token once and retry. */
async function api(method, path, body) {
  const epochAtStart = epoch;
  let response = await send(method, path, body, session.access);
  if (response.status === 401 && session.refresh) {
    try {
      await refreshAccess();
    } catch (error) {
      if (epochAtStart === epoch) sessionExpired();
      throw new ApiError(401, "Your session has expired. Please sign in again.");
    }
    response = await send(method, path, body, session.access);
  }
  if (response.status === 401 && epochAtStart === epoch) {
    sessionExpired();
    throw new ApiError(401, "Your session has expired. Please sign in again.");
  }
  return readBody(response);
}

// ---- session and views ---------------------------------------------------------------------
let epoch = 0;  // bumped at logout, so late answers from before are ignored

function renderWhoami() {
  const user = session.user;
  $("whoami").hidden = !user;
  if (!user) return;
  $("user-name").textContent = user.username;
  $("user-role").textContent = user.role;
  const canStart = CAN_START_JOBS.has(user.role);
  $("discover-btn").disabled = !canStart;
  if (!canStart) $("discover-info").textContent = `The ${user.role} role cannot start discoveries.`;
  const canSync = CAN_SYNC_1C.has(user.role);
  $("onec-bank").disabled = !canSync;
  $("onec-contractors").disabled = !canSync;
  $("onec-info").textContent = canSync ? "" : `The ${user.role} role cannot start a 1C sync.`;
}

function showLogin(message) {
  $("dashboard").hidden = true;
  $("whoami").hidden = true;
  $("login-view").hidden = false;
  $("login-info").hidden = !message;
  $("login-info").textContent = message || "";
  clearError($("login-error"));
  $("login-form").elements.username.focus();
}

function showDashboard() {
  $("login-view").hidden = true;
  $("dashboard").hidden = false;
  resetState();
  renderWhoami();
  loadJobs().catch(() => {});
  loadSources().catch(() => {});
  loadDrafts().catch(() => {});
  loadConfig();
  loadSchedules().catch(() => {});
  Object.assign(live, { wanted: true, backoff: WS_BACKOFF_START_MS, failed: false, authRetried: false, listedAt: 0 });
  connectLive();
  clearInterval(live.staleTimer);
  live.staleTimer = setInterval(checkStale, STALE_MS);
}

function stopEverything() {
  epoch += 1;
  forgetConfig();
  live.wanted = false;
  if (live.ws) { const ws = live.ws; live.ws = null; ws.close(1000, "logout"); }
  clearTimeout(live.retryTimer);
  clearInterval(live.staleTimer);
  stopPolling();
  clearInterval(draftsState.timer);
  draftsState.timer = null;
  if ($("job-dialog").open) $("job-dialog").close();
}

function sessionExpired() {
  if ($("login-view").hidden === false) return;
  stopEverything();
  session.clear();
  showLogin("Your session has expired. Please sign in again.");
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button[type=submit]");
  clearError($("login-error"));
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    showError($("login-error"), "Enter your username and password.");
    return;
  }
  button.disabled = true;
  try {
    const data = await readBody(await send("POST", "/api/login/", { username, password }));
    session.clear();
    session.save(data);
    form.reset();
    showDashboard();
  } catch (error) {
    showError($("login-error"), error);
  } finally {
    button.disabled = false;
  }
});

$("logout").addEventListener("click", () => {
  const refresh = session.refresh;
  stopEverything();
  session.clear();
  // End the session on the server too, so the refresh token refreshes nothing if it was copied. Best effort:
  // signing out here does not wait for it.
  if (refresh) send("POST", "/api/logout/", { refresh }).catch(() => {});
  showLogin("You have signed out.");
});

// ---- deployment config ---------------------------------------------------------------------
let config = null;  // GET /api/v1/config (where the Temporal Web UI is); null until it answers

async function loadConfig() {
  const epochAtStart = epoch;
  let data = null;
  try {
    data = await api("GET", "/api/v1/config");
  } catch { /* no Temporal links then; the rest of the page works without them */ }
  if (epochAtStart !== epoch) return;
  config = data;
  renderTemporalNav();
  if (detailId) renderDetails();
}

function forgetConfig() {
  config = null;
  renderTemporalNav();
}

function renderTemporalNav() {
  const slot = $("temporal-nav");
  const el = link(temporalJobsUrl(config), "Temporal Web UI", null);
  slot.replaceChildren(...(el ? [el] : []));
  slot.hidden = !el;
}

// ---- jobs ----------------------------------------------------------------------------------
const jobs = new Map();        // job_id -> what we know: the list entry merged with its latest snapshot
const knownTypes = new Set([
  "news_discovery", "webbuddy_query", "channel_migration", "sync_bank_transactions", "sync_contractors",
]);
let detailId = null;           // the job shown in the details dialog

function resetState() {
  jobs.clear();
  detailId = null;
  sources = [];
  selectedSources = null;
  draftsState.items = [];
  draftsState.total = 0;
  draftsState.runId = null;
  draftsState.editing = null;
  // Nothing of the previous person's session stays on screen.
  $("filter-type").value = "";
  $("filter-status").value = "";
  $("max-parallel").value = "3";
  $("discover-info").textContent = "";
  $("jobs-count").textContent = "";
  $("job-list").replaceChildren(h("p", { class: "muted" }, "Loading jobs…"));
  $("source-list").replaceChildren(h("p", { class: "muted" }, "Loading sources…"));
  $("drafts-body").replaceChildren();
  for (const id of ["jobs-error", "news-error", "drafts-error"]) clearError($(id));
  setLiveState("", "connecting…");
}

function filters() {
  return { type: $("filter-type").value, status: $("filter-status").value };
}

function matchesFilters(job) {
  const f = filters();
  return (!f.type || job.type === f.type) && (!f.status || job.status === f.status);
}

function sortKey(job) {
  const date = parseTime(job.started_at);
  return date ? date.getTime() : job._seen;
}

/** A row from GET /jobs: type, owner, status, started_at, closed_at (no progress). */
function mergeListed(item) {
  const job = jobs.get(item.job_id);
  if (!job) {
    jobs.set(item.job_id, { ...item, _seen: Date.now(), _snapshot: false });
    return;
  }
  job.type = item.type;
  job.owner = item.owner;
  job.closed_at = item.closed_at;
  if (item.started_at) job.started_at = job.started_at || item.started_at;
  if (!job._snapshot) job.status = item.status;
}

/** A full snapshot, from the socket, polling, or GET /jobs/{id}. */
function mergeSnapshot(snap) {
  if (!snap || !snap.job_id) return;
  if (snap.type) knownTypes.add(snap.type);
  let job = jobs.get(snap.job_id);
  const isNew = !job;
  if (isNew) {
    if (!matchesFilters(snap)) return;
    job = { job_id: snap.job_id, _seen: Date.now() };
    jobs.set(snap.job_id, job);
  }
  const startedAt = job.started_at;
  Object.assign(job, snap, { _snapshot: true, _received: Date.now() });
  if (!snap.started_at && startedAt) job.started_at = startedAt;
  if (isNew) renderJobs(); else renderJob(job.job_id);
  if (detailId === job.job_id) renderDetails();
  if (onec.taskId === job.job_id) renderOnecTask();
  syncDraftsRefresh();
}

async function loadJobs({ quiet = false } = {}) {
  const epochAtStart = epoch;
  const f = filters();
  const params = new URLSearchParams({ limit: String(JOBS_LIMIT) });
  if (f.type) params.set("type", f.type);
  if (f.status) params.set("status", f.status);
  let data;
  try {
    data = await api("GET", `/api/v1/jobs?${params}`);
  } catch (error) {
    if (epochAtStart === epoch && error.status !== 401) showError($("jobs-error"), error);
    if (!quiet) renderJobs();
    throw error;
  }
  if (epochAtStart !== epoch) return;
  live.listedAt = Date.now();
  clearError($("jobs-error"));
  const listed = new Set();
  for (const item of data.jobs) {
    listed.add(item.job_id);
    if (item.type) knownTypes.add(item.type);
    mergeListed(item);
  }
  // Forget jobs the list no longer has (cleaned up, or filtered out), unless we just learnt of
  // them: a job started a moment ago may not be in Temporal's visibility index yet.
  for (const [id, job] of jobs) {
    if (!listed.has(id) && !(Date.now() - job._seen < 15000 && matchesFilters(job))) jobs.delete(id);
  }
  renderTypeFilter();
  renderJobs();
  syncDraftsRefresh();
  // The list has no progress: fetch a snapshot of each job we have none for (a closed job's is final).
  const wanted = [...jobs.values()].filter((job) => !job._snapshot || (job.closed_at && ACTIVE.has(job.status)));
  fetchSnapshots(wanted.map((job) => job.job_id), epochAtStart);
}

async function fetchSnapshots(ids, epochAtStart, parallel = 4) {
  const queue = ids.slice();
  async function worker() {
    while (queue.length && epochAtStart === epoch) {
      const id = queue.shift();
      try {
        const snap = await api("GET", `/api/v1/jobs/${encodeURIComponent(id)}`);
        if (epochAtStart === epoch) mergeSnapshot(snap);
      } catch (error) {
        if (error.status === 404) removeJob(id);
      }
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker));
}

function removeJob(id) {
  if (jobs.delete(id)) renderJobs();
}

function renderTypeFilter() {
  const select = $("filter-type");
  const have = new Set([...select.options].map((o) => o.value));
  for (const type of [...knownTypes].sort()) {
    if (!have.has(type)) select.append(h("option", {}, type));
  }
}

function sortedJobs() {
  return [...jobs.values()].sort((a, b) => sortKey(b) - sortKey(a));
}

function renderJobs() {
  const list = $("job-list");
  const all = sortedJobs();
  const f = filters();
  $("jobs-count").textContent = all.length ? `${all.length} shown (newest ${JOBS_LIMIT})` : "";
  if (!all.length) {
    const text = f.type || f.status ? "No jobs match these filters." : "No jobs yet. Start one from the News panel.";
    list.replaceChildren(h("p", { class: "muted" }, text));
    return;
  }
  list.replaceChildren(...all.map(jobRow));
}

function renderJob(id) {
  const old = document.querySelector(`.job[data-id="${CSS.escape(id)}"]`);
  const job = jobs.get(id);
  if (old && job) old.replaceWith(jobRow(job));
  else renderJobs();
}

$("job-list").addEventListener("click", (event) => {
  const row = event.target.closest(".job");
  if (!row) return;
  const action = event.target.closest("[data-action]");
  if (action && action.dataset.action === "cancel") {
    event.stopPropagation();
    cancelJob(row.dataset.id, action);
    return;
  }
  if (event.target.closest("a, button")) return;
  openDetails(row.dataset.id);
});

$("job-list").addEventListener("keydown", (event) => {
  if ((event.key === "Enter" || event.key === " ") && event.target.classList.contains("job")) {
    event.preventDefault();
    openDetails(event.target.dataset.id);
  }
});

async function cancelJob(id, button, errorEl = $("jobs-error")) {
  const job = jobs.get(id);
  if (!window.confirm(`Cancel the ${job ? job.type : ""} job ${id}?`)) return;
  if (button) button.disabled = true;
  clearError(errorEl);
  try {
    await api("POST", `/api/v1/jobs/${encodeURIComponent(id)}/cancel`, { reason: CANCEL_REASON });
    const current = jobs.get(id);
    if (current && ACTIVE.has(current.status)) {
      current.status = "cancelling";
      current.message = `cancelling: ${CANCEL_REASON}`;
      renderJob(id);
      if (detailId === id) renderDetails();
    }
  } catch (error) {
    showError(errorEl, error);
    if (button) button.disabled = false;
  }
}

$("job-filters").addEventListener("change", () => {
  jobs.clear();
  $("job-list").replaceChildren(h("p", { class: "muted" }, "Loading jobs…"));
  loadJobs().catch(() => {});
});
$("job-filters").addEventListener("submit", (event) => event.preventDefault());
$("jobs-reload").addEventListener("click", () => loadJobs().catch(() => {}));

// ---- job details ---------------------------------------------------------------------------
function openDetails(id) {
  detailId = id;
  clearError($("dlg-error"));
  renderDetails();
  const dialog = $("job-dialog");
  if (!dialog.open) dialog.showModal();
  // One fresh snapshot: the list row may predate the job's end, and the result comes with it.
  const epochAtStart = epoch;
  api("GET", `/api/v1/jobs/${encodeURIComponent(id)}`)
    .then((snap) => { if (epochAtStart === epoch) mergeSnapshot(snap); })
    .catch((error) => { if (detailId === id) showError($("dlg-error"), error); });
}

$("job-dialog").addEventListener("close", () => { detailId = null; });

function renderDetails() {
  const job = jobs.get(detailId);
  const body = $("dlg-body");
  if (!job) {
    $("dlg-title").textContent = detailId || "Job";
    $("dlg-badge").replaceChildren();
    body.replaceChildren(h("p", { class: "muted" }, "This job is no longer listed."));
    return;
  }
  // Skip identical redraws, so the reader's place in a long result is kept.
  const signature = JSON.stringify([job, config], (key, value) => (key.startsWith("_") ? undefined : value));
  if (body.dataset.signature === signature && body.dataset.id === job.job_id) return;
  body.dataset.signature = signature;
  body.dataset.id = job.job_id;

  $("dlg-title").textContent = `${job.type || "job"} · ${job.job_id}`;
  $("dlg-badge").replaceChildren(h("span", { class: `badge ${job.status}` }, job.status));
  const canCancel = job.status === "pending" || job.status === "running";
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value ?? "—")];
  const errors = job.errors || [];

  body.replaceChildren(
    h("div", { class: "dlg-actions" },
      canCancel && h("button", {
        type: "button", class: "danger",
        onclick: (event) => cancelJob(job.job_id, event.currentTarget, $("dlg-error")),
      }, "Cancel job"),
      job.type === "news_discovery" && h("button", {
        type: "button",
        onclick: () => { $("job-dialog").close(); showDraftsOfRun(job.job_id); },
      }, "Show this run's drafts"),
      link(temporalJobUrl(config, job.job_id), "Open in Temporal Web UI", null)),
    progressBar(job),
    h("dl", { class: "fields" },
      row("Owner", job.owner),
      row("Started", timeEl(job.started_at)),
      row("Updated", job.updated_at ? timeEl(job.updated_at) : "—"),
      job.closed_at && row("Closed", timeEl(job.closed_at)),
      row("Processed", job._snapshot ? `${job.processed} of ${job.total}` : "…"),
      row("Succeeded", job.succeeded),
      row("Skipped", job.skipped),
      row("Failed", job.failed),
      job.status === "running" && row("ETA", fmtDuration(job.eta_seconds)),
      row("Working on", job.current || "—"),
      row("Message", job.message || "—"),
      job.retrying && row("Retrying", retryLine(job))),
    h("h3", {}, `Errors (${errors.length})`),
    errors.length
      ? h("ol", { class: "errors" }, errors.map((e) => h("li", {}, h("b", {}, e.item), ": ", e.error)))
      : h("p", { class: "muted" }, "No errors."),
    h("h3", {}, "Result"),
    job.result != null
      ? h("pre", { class: "json" }, JSON.stringify(job.result, null, 2))
      : h("p", { class: "muted" }, ACTIVE.has(job.status) ? "Not finished yet." : "No result."));
}

// ---- live updates: one socket for every job, polling while it is down ----------------------
const live = {
  wanted: false, ws: null, backoff: WS_BACKOFF_START_MS, retryTimer: null,
  pollTimer: null, polling: false, polls: 0, authRetried: false, failed: false, staleTimer: null, listedAt: 0,
};

function setLiveState(kind, text) {
  const el = $("live-state");
  el.className = `live ${kind}`;
  el.textContent = text;
}

function connectLive() {
  if (!live.wanted || live.ws) return;
  clearTimeout(live.retryTimer);
  const token = session.access;
  if (!token) return;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let ws;
  try {
    // The token goes as the first message, never in the URL: a URL lands in the server's and proxies' logs.
    ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws/jobs`);
  } catch {
    onLiveDown();
    return;
  }
  live.ws = ws;
  let openedAt = 0;
  ws.onopen = () => {
    ws.send(JSON.stringify({ token }));
    openedAt = Date.now();
    setLiveState("on", "live");
    stopPolling();
    if (live.failed) {
      live.failed = false;
      loadJobs({ quiet: true }).catch(() => {});  // catch up on what we may have missed
    }
  };
  ws.onmessage = (event) => {
    live.backoff = WS_BACKOFF_START_MS;
    live.authRetried = false;
    let snap;
    try { snap = JSON.parse(event.data); } catch { return; }
    mergeSnapshot(snap);
  };
  ws.onerror = () => { /* a close event follows; handled there */ };
  ws.onclose = (event) => {
    if (live.ws !== ws) return;
    live.ws = null;
    if (!live.wanted) return;
    if (openedAt && Date.now() - openedAt > 10000) live.backoff = WS_BACKOFF_START_MS;
    if (event.code === 4401 && !live.authRetried) {
      // The token was refused: get a new one and try again at once.
      live.authRetried = true;
      refreshAccess().then(connectLive, () => sessionExpired());
      return;
    }
    onLiveDown();
  };
}

function onLiveDown() {
  live.failed = true;
  startPolling();
  const jitter = 0.8 + Math.random() * 0.4;
  const delay = Math.min(live.backoff, WS_BACKOFF_MAX_MS) * jitter;
  live.backoff = Math.min(live.backoff * 2, WS_BACKOFF_MAX_MS);
  setLiveState("polling", `polling every ${POLL_MS / 1000} s · reconnecting in ${Math.round(delay / 1000)} s`);
  clearTimeout(live.retryTimer);
  live.retryTimer = setTimeout(connectLive, delay);
}

/**
 * The socket only learns of running jobs once a second and says nothing of a job that ended
 * in between: a job that has looked unchanged for a while is asked about directly.
 */
function checkStale() {
  if (live.pollTimer) return;  // polling already covers every running job
  const now = Date.now();
  // ...and a job that started and ended between two looks never reaches the socket at all.
  if (now - live.listedAt > RELIST_LIVE_MS) {
    loadJobs({ quiet: true }).catch(() => {});
    return;
  }
  const stale = [...jobs.values()].filter((job) => ACTIVE.has(job.status) && now - (job._received || 0) > STALE_MS);
  if (stale.length) fetchSnapshots(stale.map((job) => job.job_id), epoch, 2);
}

function startPolling() {
  if (live.pollTimer) return;
  live.polls = 0;
  live.pollTimer = setInterval(pollOnce, POLL_MS);
}

function stopPolling() {
  clearInterval(live.pollTimer);
  live.pollTimer = null;
}

async function pollOnce() {
  if (live.polling) return;
  live.polling = true;
  const epochAtStart = epoch;
  try {
    const active = [...jobs.values()].filter((job) => ACTIVE.has(job.status));
    await Promise.all(active.map(async (job) => {
      try {
        const snap = await api("GET", `/api/v1/jobs/${encodeURIComponent(job.job_id)}`);
        if (epochAtStart === epoch) mergeSnapshot(snap);
        clearError($("jobs-error"));
      } catch (error) {
        if (error.status === 404) removeJob(job.job_id);
        else if (epochAtStart === epoch && error.status !== 401) showError($("jobs-error"), error);
      }
    }));
    live.polls += 1;
    if (live.polls % RELIST_EVERY_POLLS === 0) await loadJobs({ quiet: true });
  } catch { /* shown by loadJobs */ } finally {
    live.polling = false;
  }
}

// ---- news sources and discovery ------------------------------------------------------------
let sources = [];
let selectedSources = null;   // Set of ids the person ticked; null until sources first load

async function loadSources() {
  const epochAtStart = epoch;
  try {
    const list = await api("GET", "/api/v1/news/sources");
    if (epochAtStart !== epoch) return;
    sources = list;
    if (selectedSources === null) selectedSources = new Set(list.filter((s) => s.active).map((s) => s.id));
    clearError($("news-error"));
    renderSources();
    renderDrafts();
  } catch (error) {
    if (epochAtStart === epoch && error.status !== 401) showError($("news-error"), error);
    if (!sources.length) $("source-list").replaceChildren(h("p", { class: "muted" }, "Sources could not be loaded."));
  }
}

function renderSources() {
  const box = $("source-list");
  if (!sources.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No news sources yet. Add them through the API (see API docs)."));
    return;
  }
  box.replaceChildren(...sources.map((s) => h("label", {},
    h("input", { type: "checkbox", value: s.id, checked: selectedSources.has(s.id) }),
    h("span", {}, s.name,
      s.topic && h("span", { class: "muted small" }, ` · ${s.topic}`),
      !s.active && h("span", { class: "muted small" }, " (inactive)")))));
}

$("source-list").addEventListener("change", (event) => {
  if (event.target.type !== "checkbox") return;
  const id = Number(event.target.value);
  if (event.target.checked) selectedSources.add(id); else selectedSources.delete(id);
});

$("pick-all").addEventListener("click", () => {
  selectedSources = new Set(sources.map((s) => s.id));
  renderSources();
});
$("pick-none").addEventListener("click", () => {
  selectedSources = new Set();
  renderSources();
});
$("sources-reload").addEventListener("click", () => loadSources());

$("discover-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const errorEl = $("news-error");
  clearError(errorEl);
  const ids = sources.filter((s) => selectedSources && selectedSources.has(s.id)).map((s) => s.id);
  const maxParallel = Number($("max-parallel").value);
  if (!ids.length) {
    showError(errorEl, "Pick at least one source.");
    return;
  }
  if (!Number.isInteger(maxParallel) || maxParallel < 1 || maxParallel > 20) {
    showError(errorEl, "Max parallel must be a whole number from 1 to 20.");
    return;
  }
  const button = $("discover-btn");
  button.disabled = true;
  $("discover-info").textContent = "Starting…";
  try {
    const { job_id } = await api("POST", "/api/v1/news/discover", { source_ids: ids, max_parallel: maxParallel });
    $("discover-info").textContent = `Started ${job_id}`;
    if (!jobs.has(job_id)) {
      jobs.set(job_id, {
        job_id, type: "news_discovery", owner: session.user?.username, status: "pending",
        started_at: new Date().toISOString(), percent: 0, message: "starting", _seen: Date.now(), _snapshot: false,
      });
      renderJobs();
      fetchSnapshots([job_id], epoch);
    }
    showDraftsOfRun(job_id);
    syncDraftsRefresh();
  } catch (error) {
    $("discover-info").textContent = "";
    showError(errorEl, error);
  } finally {
    button.disabled = !CAN_START_JOBS.has(session.user?.role);
  }
});

// ---- drafts --------------------------------------------------------------------------------
const draftsState = { items: [], total: 0, runId: null, timer: null, editing: null, seq: 0 };

function showDraftsOfRun(runId) {
  draftsState.runId = runId;
  draftsState.items = [];
  draftsState.total = 0;
  renderDrafts();
  loadDrafts().catch(() => {});
}

$("drafts-all").addEventListener("click", () => showDraftsOfRun(null));
$("drafts-reload").addEventListener("click", () => loadDrafts().catch(() => {}));

async function loadDrafts() {
  const seq = ++draftsState.seq;  // only the newest request's answer is shown
  const epochAtStart = epoch;
  const runId = draftsState.runId;
  const params = new URLSearchParams({ limit: String(DRAFTS_LIMIT) });
  if (runId) params.set("run_id", runId);
  try {
    const data = await api("GET", `/api/v1/news/drafts?${params}`);
    if (epochAtStart !== epoch || seq !== draftsState.seq) return;
    draftsState.items = data.items;
    draftsState.total = data.total;
    clearError($("drafts-error"));
    renderDrafts();
  } catch (error) {
    if (epochAtStart === epoch && seq === draftsState.seq && error.status !== 401) showError($("drafts-error"), error);
  }
}

/** Refresh drafts every few seconds while any news discovery runs; once more when the last ends. */
function syncDraftsRefresh() {
  const running = [...jobs.values()].some((job) => job.type === "news_discovery" && ACTIVE.has(job.status));
  if (running && !draftsState.timer) {
    draftsState.timer = setInterval(() => loadDrafts().catch(() => {}), DRAFTS_REFRESH_MS);
  } else if (!running && draftsState.timer) {
    clearInterval(draftsState.timer);
    draftsState.timer = null;
    loadDrafts().catch(() => {});
  }
}

function sourceName(id) {
  const source = sources.find((s) => s.id === id);
  return source ? source.name : `source #${id}`;
}

function renderDrafts() {
  const { items, total, runId } = draftsState;
  const count = total > items.length ? `newest ${items.length} of ${total}` : `${total} draft${total === 1 ? "" : "s"}`;
  $("drafts-scope").textContent = runId ? `from run ${runId} · ${count}` : `all runs · ${count}`;
  $("drafts-all").hidden = !runId;
  $("drafts-note").hidden = CAN_EDIT_DRAFTS.has(session.user?.role) || !items.length;
  // Never redraw under someone typing a new title; catch up when they finish.
  if (draftsState.editing !== null) return;
  const empty = $("drafts-empty");
  empty.hidden = items.length > 0;
  empty.textContent = runId ? "No drafts from this run yet." : "No drafts yet. Run a discovery to find some.";
  $("drafts-wrap").hidden = !items.length;
  const canEdit = CAN_EDIT_DRAFTS.has(session.user?.role);
  $("drafts-body").replaceChildren(...items.map((draft) => draftRow(draft, { canEdit, sourceName: sourceName(draft.source_id) })));
}

$("drafts-body").addEventListener("click", (event) => {
  const action = event.target.closest("[data-action]");
  if (!action) return;
  const row = action.closest("tr");
  const id = Number(row.dataset.id);
  if (action.dataset.action === "edit") startEdit(row, id);
  else if (action.dataset.action === "cancel-edit") endEdit();
});

function startEdit(row, id) {
  if (draftsState.editing !== null) endEdit();
  const draft = draftsState.items.find((d) => d.id === id);
  if (!draft) return;
  draftsState.editing = id;
  const input = h("input", { type: "text", value: draft.title, maxlength: 500, "aria-label": "New title" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h("form", { class: "title-edit" },
    input,
    h("button", { type: "submit", class: "primary" }, "Save"),
    h("button", { type: "button", dataset: { action: "cancel-edit" } }, "Cancel"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveTitle(id, input, form, error);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.preventDefault(); endEdit(); }
  });
  const cell = row.querySelector(".title-cell");
  cell.replaceChildren(h("div", {}, form, error));
  input.focus();
  input.select();
}

function endEdit(savedId = null) {
  draftsState.editing = null;
  renderDrafts();
  if (savedId !== null) {
    const row = document.querySelector(`#drafts-body tr[data-id="${savedId}"]`);
    if (row) row.classList.add("saved");
  }
}

async function saveTitle(id, input, form, errorEl) {
  const title = input.value.trim();
  clearError(errorEl);
  if (!title) {
    showError(errorEl, "The title cannot be empty.");
    return;
  }
  const draft = draftsState.items.find((d) => d.id === id);
  if (draft && draft.title === title) { endEdit(); return; }
  for (const el of form.elements) el.disabled = true;
  try {
    const updated = await api("PATCH", `/api/v1/news/drafts/${id}`, { title });
    const index = draftsState.items.findIndex((d) => d.id === id);
    if (index >= 0) draftsState.items[index] = updated;
    endEdit(id);
  } catch (error) {
    for (const el of form.elements) el.disabled = false;
    showError(errorEl, error);
  }
}

// ---- 1C sync -------------------------------------------------------------------------------
const onec = { taskId: null, schedules: [] };

function renderOnecTask() {
  const job = onec.taskId ? jobs.get(onec.taskId) : null;
  $("onec-task").replaceChildren(...(job ? [jobRow(job)] : []));
}

async function startSync(path, body, button) {
  clearError($("onec-error"));
  button.disabled = true;
  try {
    const started = await api("POST", path, body);
    onec.taskId = started.task_id;
    const snap = await api("GET", `/api/v1/jobs/${encodeURIComponent(started.task_id)}`);
    mergeSnapshot(snap);
    if (!jobs.has(started.task_id)) jobs.set(started.task_id, { ...snap, _snapshot: true });
    renderOnecTask();
  } catch (error) {
    showError($("onec-error"), error);
  } finally {
    button.disabled = !CAN_SYNC_1C.has(session.user?.role);
  }
}

$("onec-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = {
    date_from: $("onec-from").value, date_to: $("onec-to").value, auto_classify: $("onec-classify").checked,
  };
  if (!body.date_from || !body.date_to) {
    showError($("onec-error"), "Choose the period: both dates.");
    return;
  }
  startSync("/api/v1/sync-1c/bank-transactions/sync-async", body, $("onec-bank"));
});

$("onec-contractors").addEventListener("click", (event) => {
  startSync("/api/v1/sync-1c/contractors/sync-async", null, event.currentTarget);
});

$("onec-task").addEventListener("click", (event) => {
  const action = event.target.closest("[data-action]");
  if (action && action.dataset.action === "cancel" && onec.taskId) cancelJob(onec.taskId, action, $("onec-error"));
});

async function loadSchedules() {
  const epochAtStart = epoch;
  try {
    const schedules = await api("GET", "/api/v1/sync-1c/schedules");
    if (epochAtStart !== epoch) return;
    onec.schedules = schedules;
    renderSchedules();
  } catch (error) {
    $("onec-schedules").replaceChildren(h("p", { class: "muted" }, "Schedules are not available yet."));
    throw error;
  }
}

function renderSchedules() {
  const canEdit = CAN_SYNC_1C.has(session.user?.role);
  $("onec-schedules").replaceChildren(...onec.schedules.map((s) => scheduleRow(s, { canEdit })));
}

$("onec-schedules").addEventListener("click", async (event) => {
  const action = event.target.closest("[data-action]");
  const row = event.target.closest("[data-name]");
  if (!action || !row) return;
  action.disabled = true;
  clearError($("onec-error"));
  try {
    await api("POST", `/api/v1/sync-1c/schedules/${encodeURIComponent(row.dataset.name)}/${action.dataset.action}`);
    await loadSchedules();
  } catch (error) {
    showError($("onec-error"), error);
    action.disabled = false;
  }
});

$("onec-schedules-reload").addEventListener("click", () => loadSchedules().catch(() => {}));

// ---- start ---------------------------------------------------------------------------------
if (session.access && session.user) showDashboard();
else showLogin();
