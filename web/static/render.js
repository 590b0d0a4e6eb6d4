// Rendering helpers of the dashboard: data in, detached elements out. Nothing here reads or
// changes the page, so tests run this very file in a bare JS engine with a stand-in `document`.
//
// The rule every renderer follows, because the data is written by outsiders (feed authors
// today; Telegram posts, 1C fields, chat messages later):
//   - text is only ever set as text (h() appends strings as text nodes; markup is never parsed);
//   - a URL becomes a link only when it is http(s): every href/src goes through safeUrl(), and
//     h() itself drops any URL attribute safeUrl() refuses, so a renderer cannot forget;
//   - no inline style or handler attributes (the page's CSP forbids them): styles through the
//     CSSOM, handlers through addEventListener.
"use strict";

const ACTIVE = new Set(["pending", "running", "paused", "cancelling"]);

// Attributes a browser follows or loads. `srcset`, `srcdoc` and string `style` are refused
// outright: none is needed, and each would need its own parser to be made safe.
const URL_ATTRIBUTES = new Set(["href", "src", "action", "formaction", "poster", "cite", "data", "xlink:href", "ping"]);
const REFUSED_ATTRIBUTES = new Set(["srcset", "srcdoc"]);

/**
 * `url` when it is an absolute http(s) URL, else null. Judged on the string exactly as given:
 * the browser would strip leading spaces and control characters (and tabs and newlines
 * anywhere) before reading the scheme, so anything but "http://" or "https://" at index 0 is
 * refused rather than normalised.
 */
function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\/\S/i.test(url) ? url : null;
}

/** Build an element: h("a", {href, class}, "text", child, ...). Text is always set as text. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    const name = key.toLowerCase();
    if (REFUSED_ATTRIBUTES.has(name)) throw new TypeError(`h(): the ${key} attribute is not allowed`);
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") {
      if (typeof value !== "object") throw new TypeError("h(): style takes an object of CSS properties");
      Object.assign(el.style, value);
    } else if (name.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`h(): ${key} takes a function`);
      el.addEventListener(name.slice(2), value);
    } else if (URL_ATTRIBUTES.has(name)) {
      const url = safeUrl(value);
      if (url !== null) el.setAttribute(key, url);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/**
 * A link to an outside page, opened in a new tab that gets no handle on this one and no
 * Referer. A URL that is not http(s) shows `fallback` as plain text instead (nothing when null).
 */
function link(url, text, fallback = text) {
  const href = safeUrl(url);
  if (href === null) return fallback == null ? null : h("span", { class: "muted", title: "not a web link" }, fallback);
  return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, text);
}

/** The Web UI's list of jobs: workflows that carry a JobType. Housekeeping sweeps (the WebBuddy and tracker
 * reconcile schedules, one closed run every 30 s each) carry none, so they stay out of a person's view and still
 * run; the same list without the filter shows them. */
const JOBS_QUERY = "JobType IS NOT NULL";

function temporalJobsUrl(config) {
  if (!config || !config.temporal_ui_url) return null;
  const namespace = encodeURIComponent(config.temporal_namespace || "default");
  return `${config.temporal_ui_url}/namespaces/${namespace}/workflows?query=${encodeURIComponent(JOBS_QUERY)}`;
}

/** This job's page in the Temporal Web UI (config from GET /api/v1/config), or null if unknown. */
function temporalJobUrl(config, jobId) {
  if (!config || !config.temporal_ui_url) return null;
  const namespace = encodeURIComponent(config.temporal_namespace || "default");
  return `${config.temporal_ui_url}/namespaces/${namespace}/workflows/${encodeURIComponent(jobId)}`;
}

// ---- time and numbers ----------------------------------------------------------------------
function parseTime(value) {
  if (!value) return null;
  // The API sends ISO 8601 with a zone; treat a bare one as UTC rather than local time.
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : value + "Z";
  const date = new Date(text);
  return isNaN(date) ? null : date;
}

function fmtTime(value) {
  const date = parseTime(value);
  if (!date) return "—";
  const today = new Date().toDateString() === date.toDateString();
  return today
    ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
    : date.toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function timeEl(value) {
  const date = parseTime(value);
  return h("time", { datetime: value || null, title: date ? date.toLocaleString() : null }, fmtTime(value));
}

function fmtDuration(seconds) {
  if (seconds == null || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

function fmtPercent(percent) {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  return p > 0 && p < 1 ? "<1%" : `${Math.floor(p)}%`;
}

// ---- jobs ----------------------------------------------------------------------------------
function progressBar(job) {
  const pct = Math.max(0, Math.min(100, Number(job.percent) || 0));
  return h("div", { class: "progress" },
    h("div", {
      class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": Math.round(pct), "aria-label": "progress",
    }, h("div", { class: `fill ${job.status}`, style: { width: `${pct}%` } })),
    h("span", { class: "pct" }, job._snapshot ? fmtPercent(pct) : "…"));
}

/** How long a closed job ran: its last update minus its start. */
function ranFor(job) {
  const start = parseTime(job.started_at);
  const end = parseTime(job.updated_at || job.closed_at);
  return start && end && end >= start ? (end - start) / 1000 : null;
}

/** "retrying <step> (attempt n, since t): last error" while a step of the job fails and is tried again, else null.
 * The error is an outside service's text (an HTTP answer, a feed's complaint): set as text like everything else. */
function retryLine(job) {
  const retry = job.retrying;
  if (!retry) return null;
  return h("div", { class: "job-line c-bad retrying" },
    h("b", {}, "retrying"), ` ${retry.step || "a step"} (attempt ${Number(retry.attempt) || "?"}, since `,
    timeEl(retry.since), "): ", String(retry.last_error ?? ""));
}

function jobRow(job) {
  const snap = job._snapshot;
  const canCancel = ACTIVE.has(job.status) && job.status !== "cancelling";
  const lastError = job.errors && job.errors.length ? job.errors[job.errors.length - 1] : null;
  return h("article", { class: "job", dataset: { id: job.job_id }, tabindex: 0, title: "Show details" },
    h("div", { class: "job-top" },
      h("span", { class: "job-type" }, job.type || "job"),
      h("span", { class: `badge ${job.status}` }, job.status),
      h("span", { class: "actions" },
        canCancel && h("button", { type: "button", class: "danger", dataset: { action: "cancel" } }, "Cancel"))),
    h("div", { class: "job-meta" },
      h("span", {}, "by ", h("b", {}, job.owner || "?")),
      h("span", {}, "started ", timeEl(job.started_at)),
      // A step in retry makes the rate behind the ETA meaningless (it read "ETA 0 s" while a feed failed).
      job.status === "running" && !job.retrying && h("span", {}, "ETA ", fmtDuration(job.eta_seconds)),
      !ACTIVE.has(job.status) && ranFor(job) != null && h("span", {}, "ran ", fmtDuration(ranFor(job))),
      h("span", { class: "muted", title: job.job_id }, job.job_id)),
    progressBar(job),
    snap && h("div", { class: "job-counts" },
      h("span", {}, h("b", {}, `${job.processed ?? 0} / ${job.total ?? 0}`), " processed"),
      h("span", { class: "c-ok" }, `${job.succeeded ?? 0} succeeded`),
      h("span", { class: "c-skip" }, `${job.skipped ?? 0} skipped`),
      h("span", { class: job.failed ? "c-bad" : "" }, `${job.failed ?? 0} failed`)),
    job.current && h("div", { class: "job-line" }, h("span", { class: "muted" }, "Working on: "), job.current),
    job.message && h("div", { class: "job-line muted" }, job.message),
    retryLine(job),
    lastError && h("div", { class: "job-line c-bad" },
      `${job.errors.length} error${job.errors.length === 1 ? "" : "s"}, latest: `, h("b", {}, lastError.item), `: ${lastError.error}`));
}

// ---- 1C schedules --------------------------------------------------------------------------
/** One scheduled sync: its name, when it runs next, and the button that pauses or resumes it. */
function scheduleRow(schedule, { canEdit }) {
  const next = schedule.next_runs && schedule.next_runs.length ? schedule.next_runs[0] : null;
  return h("div", { class: "job-line", dataset: { name: schedule.name } },
    h("b", {}, schedule.name), " ",
    h("span", { class: `badge ${schedule.paused ? "paused" : "running"}` }, schedule.paused ? "paused" : "on"), " ",
    schedule.paused ? h("span", { class: "muted" }, schedule.note || "")
      : h("span", { class: "muted" }, "next ", next ? timeEl(next) : "—"), " ",
    canEdit && h("button", { type: "button", class: "link small", dataset: { action: schedule.paused ? "unpause" : "pause" } },
      schedule.paused ? "resume" : "pause"));
}

// ---- news drafts ---------------------------------------------------------------------------
/** One row of the drafts table. `canEdit`: show the edit button; `sourceName`: the source's name. */
function draftRow(draft, { canEdit, sourceName }) {
  return h("tr", { dataset: { id: draft.id } },
    h("td", { class: "title-cell", "data-label": "Title" },
      h("div", { class: "title-view" },
        h("span", {}, draft.title),
        canEdit && h("button", { type: "button", class: "link small", dataset: { action: "edit" }, "aria-label": `Edit title of draft ${draft.id}` }, "edit"))),
    h("td", { class: "source-cell", "data-label": "Source" }, h("span", {}, sourceName)),
    h("td", { "data-label": "Status" }, h("span", {}, h("span", { class: `badge ${draft.status}` }, draft.status))),
    h("td", { class: "nowrap", "data-label": "Created" }, h("span", {}, timeEl(draft.created_at))),
    h("td", { class: "nowrap", "data-label": "Link" }, h("span", {}, link(draft.url, "open ↗", "—"))));
}
