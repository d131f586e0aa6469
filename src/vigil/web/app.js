// vigil dashboard: plain DOM, no build step. Log data is attacker-controlled, so every value
// is inserted as text (textContent), never as HTML.
"use strict";

const KEY_STORAGE = "vigil.apiKey";
const MAX_FEED = 50;
const STATS_REFRESH_MS = 60000;
const PAGE = 50;
const HOUR = 3600 * 1000;
const SPANS = { "1h": HOUR, "6h": 6 * HOUR, "24h": 24 * HOUR, "7d": 168 * HOUR, "30d": 720 * HOUR, "90d": 2160 * HOUR, "365d": 8760 * HOUR };
const STATUS_CLASSES = ["status_2xx", "status_3xx", "status_4xx", "status_5xx", "status_other"];
const PALETTE = ["#4c8dff", "#e5484d", "#f5a524", "#30a46c", "#a46cff", "#2ec8c8", "#e46ce0", "#8a9a5b", "#d08c60", "#7d8a99"];

const state = {
  key: localStorage.getItem(KEY_STORAGE) || "",
  me: null,
  // The range: relative (a span ending now) or absolute (from/to). Zoom keeps the ranges it
  // left so "Zoom out" can go back.
  range: { span: "24h" },
  zoomStack: [],
  firstLoad: true,
  stats: null,
  view: "overview",
  cursor: null,
  socket: null,
  reconnectDelay: 1000,
  statsTimer: null,
  current: null,
  incident: null,
  incidentPages: [null],
  incidentPageIndex: 0,
  incidentMembersCursor: null,
  blockPage: 0,
  auditCursor: null,
  tables: {},
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function fmtDay(iso) {
  const d = new Date(iso);
  return d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}

function fmtCount(n) {
  return typeof n === "number" ? n.toLocaleString() : "–";
}

function fmtCompact(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

function fmtBytes(n) {
  if (typeof n !== "number") return "–";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function badge(severity) {
  return el("span", { class: `badge ${String(severity).toLowerCase()}` }, severity);
}

function requestText(t) {
  const q = t.query ? `?${t.query}` : "";
  return `${t.method || ""} ${t.path || ""}${q}`.trim();
}

function siteParam() {
  const site = $("site").value.trim();
  return site ? { site } : {};
}

function status(text, isError) {
  const line = $("status-line");
  line.textContent = text || "";
  line.classList.toggle("error", Boolean(isError));
}

// ------------------------------------------------------------------ API access

class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

async function api(path, { method = "GET", params = {}, body } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) url.searchParams.set(name, value);
  }
  const headers = { "X-API-Key": state.key, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let payload = null;
  if (response.status !== 204) {
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401) askForKey("The key was refused. Paste a valid key.");
    throw new ApiError(response.status, payload && payload.detail ? payload.detail : response.statusText);
  }
  return payload;
}

function errorText(err) {
  if (err instanceof ApiError && err.status === 422) {
    try {
      const detail = JSON.parse(err.message);
      if (Array.isArray(detail)) return detail.map((d) => `${d.loc.slice(-1)[0]}: ${d.msg}`).join("; ");
    } catch (_) {
      /* plain message */
    }
  }
  return err.message;
}

// ------------------------------------------------------------------ scope: who is calling

function can(need) {
  const me = state.me;
  if (!me) return false;
  if (need === "write") return me.scope === "write" || me.scope === "admin";
  if (need === "admin") return me.scope === "admin";
  if (need === "global-admin") return me.scope === "admin" && me.sites === null;
  return true;
}

function applyScope() {
  for (const node of document.querySelectorAll("[data-needs]")) node.hidden = !can(node.dataset.needs);
  const me = state.me;
  $("who").textContent = me ? `${me.name} · ${me.scope}${me.sites ? ` · ${me.sites.join(", ")}` : ""}` : "";
}

// ------------------------------------------------------------------ confirmation

function confirmAction(text, label) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = label || "Confirm";
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// Runs one change after the operator confirms it; reports the outcome in `statusId`.
async function act(text, label, run, statusId, done) {
  if (!(await confirmAction(text, label))) return false;
  const target = $(statusId || "status-line");
  try {
    await run();
  } catch (err) {
    target.textContent = errorText(err);
    target.classList.add("error");
    return false;
  }
  target.classList.remove("error");
  target.textContent = done || "Done.";
  return true;
}

// ------------------------------------------------------------------ key dialog

function askForKey(message) {
  $("key-error").textContent = message || "";
  $("key-dialog").hidden = false;
  $("key-input").focus();
}

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.key = $("key-input").value.trim();
  try {
    state.me = await api("/keys/me");
  } catch (err) {
    $("key-error").textContent = err.status === 401 ? "This key was refused." : errorText(err);
    return;
  }
  localStorage.setItem(KEY_STORAGE, state.key);
  $("key-input").value = "";
  $("key-dialog").hidden = true;
  start();
});

$("change-key").addEventListener("click", () => askForKey(""));

// ------------------------------------------------------------------ time range

function rangeWindow() {
  if (state.range.from) return { from: state.range.from, to: state.range.to };
  const to = new Date();
  return { from: new Date(to.getTime() - SPANS[state.range.span]).toISOString(), to: to.toISOString() };
}

function isLive() {
  return !state.range.from;
}

function toLocalInput(iso) {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

// The range is kept in the address (#range=7d, #from=…&to=…), so a view can be shared or
// bookmarked; it never holds the key.
function rangeFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const from = params.get("from");
  const to = params.get("to");
  if (from && to && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to)) && Date.parse(from) < Date.parse(to)) {
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  }
  const span = params.get("range");
  return span && SPANS[span] ? { span } : null;
}

function setRange(range, { zoom = false } = {}) {
  if (zoom) state.zoomStack.push(state.range);
  else state.zoomStack = [];
  state.range = range;
  const hash = range.from ? `from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}` : `range=${range.span}`;
  history.replaceState(null, "", `#${hash}`);
  $("zoom-out").hidden = state.zoomStack.length === 0;
  syncRangeControls(range);
  refreshForRange();
}

function syncRangeControls(range) {
  if (range.from) {
    $("range").value = "custom";
    $("custom-range").hidden = false;
    $("range-from").value = toLocalInput(range.from);
    $("range-to").value = toLocalInput(range.to);
  } else {
    $("range").value = range.span;
    $("custom-range").hidden = true;
  }
}

$("range").addEventListener("change", () => {
  const value = $("range").value;
  if (value === "custom") {
    const { from, to } = rangeWindow();
    $("range-from").value = toLocalInput(from);
    $("range-to").value = toLocalInput(to);
    $("custom-range").hidden = false;
    $("range-from").focus();
    return;
  }
  setRange({ span: value });
});

$("range-form").addEventListener("submit", (event) => {
  event.preventDefault();
  // Enter in the site field submits this form too; the site's change event handles that.
  if ($("range").value !== "custom") return;
  const from = new Date($("range-from").value);
  const to = new Date($("range-to").value);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
    status("Give a start before the end.", true);
    return;
  }
  status("");
  setRange({ from: from.toISOString(), to: to.toISOString() });
});

$("zoom-out").addEventListener("click", () => {
  const previous = state.zoomStack.pop() || { span: "24h" };
  const stack = state.zoomStack;
  setRange(previous);
  state.zoomStack = stack;
  $("zoom-out").hidden = stack.length === 0;
});

function showBanner(text, action, onClick) {
  $("banner-text").textContent = text;
  const button = $("banner-action");
  button.textContent = action;
  button.onclick = onClick;
  $("banner").hidden = false;
}

function rangeAtLatest(latest) {
  const span = state.range.from ? new Date(state.range.to) - new Date(state.range.from) : SPANS[state.range.span];
  const to = new Date(latest);
  return { from: new Date(to.getTime() - span).toISOString(), to: to.toISOString() };
}

// ------------------------------------------------------------------ charts

const SVG = "http://www.w3.org/2000/svg";

function svgNode(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A stacked bar chart of `series` (name → colour) over the buckets; dragging across it selects
// buckets and zooms the whole page to them.
function drawStacked(holderId, legendId, buckets, series, valueOf, bucketSeconds) {
  const holder = $(holderId);
  holder.replaceChildren();
  const width = 640;
  const height = 190;
  const totals = buckets.map((b) => series.reduce((sum, s) => sum + (valueOf(b, s.name) || 0), 0));
  const max = Math.max(1, ...totals);
  const label = fmtCompact(max);
  const pad = { left: 12 + label.length * 7, right: 8, top: 10, bottom: 22 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = buckets.length ? plotW / buckets.length : plotW;
  const svg = svgNode("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
  svg.append(svgNode("line", { x1: pad.left, y1: pad.top + plotH, x2: width - pad.right, y2: pad.top + plotH, class: "axis" }));
  svg.append(svgNode("text", { x: pad.left - 4, y: pad.top + 8, "text-anchor": "end" }, label));
  svg.append(svgNode("text", { x: pad.left - 4, y: pad.top + plotH, "text-anchor": "end" }, "0"));
  buckets.forEach((b, i) => {
    const x = pad.left + i * barW;
    let y = pad.top + plotH;
    for (const s of series) {
      const n = valueOf(b, s.name) || 0;
      if (!n) continue;
      const h = (n / max) * plotH;
      y -= h;
      const rect = svgNode("rect", { x: x + 0.5, y, width: Math.max(1, barW - 1), height: h, style: `fill:${s.colour}`, "data-series": s.name });
      rect.append(svgNode("title", {}, `${fmtTime(b.start)}: ${n.toLocaleString()} ${s.label || s.name}`));
      svg.append(rect);
    }
  });
  if (buckets.length) {
    svg.append(svgNode("text", { x: pad.left, y: height - 6, "text-anchor": "start" }, fmtTime(buckets[0].start)));
    svg.append(svgNode("text", { x: width - pad.right, y: height - 6, "text-anchor": "end" }, fmtTime(buckets[buckets.length - 1].start)));
  }
  const brush = svgNode("rect", { class: "brush", x: 0, y: pad.top, width: 0, height: plotH, hidden: "" });
  svg.append(brush);
  holder.append(svg);
  holder.dataset.buckets = String(buckets.length);

  // Brushing: pointer positions map to bucket indexes in the plot area.
  const indexAt = (clientX) => {
    const box = svg.getBoundingClientRect();
    const x = ((clientX - box.left) / box.width) * width;
    return Math.min(buckets.length - 1, Math.max(0, Math.floor((x - pad.left) / barW)));
  };
  let startIndex = null;
  svg.addEventListener("pointerdown", (event) => {
    if (!buckets.length) return;
    startIndex = indexAt(event.clientX);
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (startIndex === null) return;
    const now = indexAt(event.clientX);
    const lo = Math.min(startIndex, now);
    const hi = Math.max(startIndex, now);
    brush.removeAttribute("hidden");
    brush.setAttribute("x", pad.left + lo * barW);
    brush.setAttribute("width", (hi - lo + 1) * barW);
  });
  svg.addEventListener("pointerup", (event) => {
    if (startIndex === null) return;
    const end = indexAt(event.clientX);
    const lo = Math.min(startIndex, end);
    const hi = Math.max(startIndex, end);
    startIndex = null;
    brush.setAttribute("hidden", "");
    const from = new Date(buckets[lo].start);
    const to = new Date(new Date(buckets[hi].start).getTime() + bucketSeconds * 1000);
    setRange({ from: from.toISOString(), to: to.toISOString() }, { zoom: true });
  });

  const legend = $(legendId);
  legend.replaceChildren(...series.map((s) => el("span", { class: "key" }, el("span", { class: "sw", style: `background:${s.colour}` }), s.label || s.name)));
}

function drawThreatChart() {
  const stats = state.stats;
  if (!stats) return;
  if ($("chart-by").value === "category") {
    const names = Object.keys(stats.categories).slice(0, PALETTE.length);
    const series = names.map((name, i) => ({ name, colour: PALETTE[i] }));
    $("chart-title").textContent = "Threats over time by category";
    drawStacked("chart", "chart-legend", stats.buckets, series, (b, name) => b.categories[name], stats.bucket_seconds);
  } else {
    const series = [
      { name: "MEDIUM", label: "medium", colour: "var(--medium)" },
      { name: "HIGH", label: "high", colour: "var(--high)" },
    ];
    $("chart-title").textContent = "Threats over time";
    drawStacked("chart", "chart-legend", stats.buckets, series, (b, name) => b.severities[name], stats.bucket_seconds);
  }
}

function drawTrafficChart() {
  const stats = state.stats;
  const series = STATUS_CLASSES.map((name, i) => ({ name, label: name.replace("status_", ""), colour: ["#30a46c", "#4c8dff", "#f5a524", "#e5484d", "#7d8a99"][i] }));
  drawStacked("traffic-chart", "traffic-legend", stats.buckets, series, (b, name) => (b.traffic || {})[name], stats.bucket_seconds);
}

$("chart-by").addEventListener("change", drawThreatChart);

// ------------------------------------------------------------------ tables and export

// Every table the page shows keeps its rows (as the API returned them) and its columns, so any
// of them can be exported as CSV or JSON.
function registerTable(name, columns, rows) {
  state.tables[name] = { columns, rows };
}

function fillRanked(name, rows, label, extra) {
  const columns = [
    { title: label, value: (r) => r.value },
    { title: "Events", value: (r) => r.count, num: true },
  ];
  if (extra) columns.push(extra);
  registerTable(name, columns, rows);
  const table = $(name);
  table.replaceChildren(el("tr", {}, ...columns.map((c) => el("th", { class: c.num ? "num" : null, scope: "col" }, c.title))));
  if (!rows.length) table.append(el("tr", {}, el("td", { class: "muted", colspan: String(columns.length) }, "none")));
  for (const row of rows) {
    table.append(el("tr", {}, ...columns.map((c) => el("td", { class: c.num ? "num" : "mono" }, c.num ? fmtCount(c.value(row)) : c.value(row)))));
  }
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function exportTable(name, format) {
  const table = state.tables[name];
  if (!table) return;
  let text;
  let type;
  if (format === "json") {
    text = JSON.stringify(table.rows, null, 2);
    type = "application/json";
  } else {
    const lines = [table.columns.map((c) => csvCell(c.title)).join(",")];
    for (const row of table.rows) lines.push(table.columns.map((c) => csvCell(c.value(row))).join(","));
    text = `${lines.join("\r\n")}\r\n`;
    type = "text/csv";
  }
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: `vigil-${name}.${format}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

for (const holder of document.querySelectorAll(".exports")) {
  const name = holder.dataset.table;
  for (const format of ["csv", "json"]) {
    holder.append(el("button", { type: "button", class: "small", "data-export": format, "aria-label": `export ${name.replace(/_/g, " ")} as ${format.toUpperCase()}`, onclick: () => exportTable(name, format) }, format.toUpperCase()));
  }
}

function fillBody(tableId, rows, makeRow, emptyText, colspan) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows.map(makeRow));
  if (!rows.length) body.append(el("tr", {}, el("td", { class: "muted", colspan: String(colspan) }, emptyText)));
}

// Rows that open something are focusable and open on Enter as on a click.
function clickableRow(props, open, ...cells) {
  return el("tr", { ...props, tabindex: "0", onclick: open, onkeydown: (e) => (e.key === "Enter" ? open() : null) }, ...cells);
}

function actionButton(text, onClick, cls) {
  return el("button", { type: "button", class: `small ${cls || ""}`.trim(), onclick: (e) => { e.stopPropagation(); onClick(); } }, text);
}

// ------------------------------------------------------------------ overview

async function loadStats() {
  const span = rangeWindow();
  const params = { from: span.from, to: span.to, top: 10, ...siteParam() };
  let stats;
  try {
    stats = await api("/stats", { params });
  } catch (err) {
    status(errorText(err), true);
    for (const id of ["count-high", "count-medium", "count-requests", "count-visitors", "count-bytes"]) $(id).textContent = "–";
    state.stats = null;
    $("chart").replaceChildren();
    $("traffic-chart").replaceChildren();
    return;
  }
  const empty = !stats.totals.HIGH && !stats.totals.MEDIUM && !stats.traffic.requests;
  $("banner").hidden = true;
  if (state.notice) {
    showBanner(...state.notice);
    state.notice = null;
  }
  if (empty && stats.latest && new Date(stats.latest) <= new Date(stats.since)) {
    const latest = stats.latest;
    if (state.firstLoad) {
      // The default range ends now; when the newest data is older, show the range ending at it.
      state.firstLoad = false;
      const before = $("range").selectedOptions[0].textContent;
      state.notice = [`Nothing in the ${before}: showing the data up to ${fmtDay(latest)}.`, "Back to now", () => setRange({ span: "24h" })];
      setRange(rangeAtLatest(latest));
      return;
    }
    showBanner(`No data in this range. Latest data: ${fmtDay(latest)}.`, "Show it", () => setRange(rangeAtLatest(latest)));
  }
  state.firstLoad = false;
  state.stats = stats;
  renderStats();
}

function renderStats() {
  const stats = state.stats;
  $("count-high").textContent = fmtCount(stats.totals.HIGH);
  $("count-medium").textContent = fmtCount(stats.totals.MEDIUM);
  $("count-requests").textContent = fmtCount(stats.traffic.requests);
  $("count-visitors").textContent = fmtCount(stats.traffic.visitors);
  $("count-bytes").textContent = fmtBytes(stats.traffic.bytes_sent);
  $("window").textContent = `${fmtTime(stats.since)} – ${fmtTime(stats.until)} · ${stats.buckets.length} buckets of ${fmtDuration(stats.bucket_seconds)}`;
  drawThreatChart();
  drawTrafficChart();
}

function renderTops() {
  const stats = state.stats;
  if (!stats) return;
  const score = { title: "Max score", value: (r) => (r.max_score === null || r.max_score === undefined ? "" : r.max_score.toFixed(2)), num: false };
  fillRanked("top_ips", stats.top_ips, "Client", score);
  fillRanked("top_rules", stats.top_rules, "Rule");
  fillRanked("top_paths", stats.top_paths, "Path");
  fillRanked("top_countries", stats.top_countries, "Country");
  fillRanked("top_asns", stats.top_asns || [], "Network");
  fillRanked("top_user_agents", stats.top_user_agents || [], "User agent");
  fillRanked("categories", Object.entries(stats.categories).map(([value, count]) => ({ value, count })), "Category");
  const statusRows = STATUS_CLASSES.map((name) => ({ value: name.replace("status_", ""), count: stats.traffic[name] || 0, source: "requests" }));
  const eventStatuses = stats.top_statuses.map((r) => ({ value: r.value, count: r.count, source: "threat events" }));
  fillRanked("statuses", [...statusRows, ...eventStatuses], "Status", { title: "Of", value: (r) => r.source });
}

function fmtDuration(seconds) {
  if (seconds % 86400 === 0) return `${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  return `${seconds / 60} min`;
}

async function loadBlockedCount() {
  try {
    const list = await api("/blocklist", { params: siteParam() });
    $("count-blocked").textContent = fmtCount(list.count);
    state.blocklist = list.items;
  } catch (err) {
    $("count-blocked").textContent = "–";
    state.blocklist = [];
  }
}

// ------------------------------------------------------------------ threats

const THREAT_COLUMNS = [
  { title: "id", value: (t) => t.id },
  { title: "observed_at", value: (t) => t.observed_at },
  { title: "severity", value: (t) => t.severity },
  { title: "score", value: (t) => t.score },
  { title: "client_ip", value: (t) => t.client_ip },
  { title: "site", value: (t) => t.site },
  { title: "method", value: (t) => t.method },
  { title: "path", value: (t) => t.path },
  { title: "query", value: (t) => t.query },
  { title: "status", value: (t) => t.status },
  { title: "categories", value: (t) => (t.categories || []).join(" ") },
  { title: "label", value: (t) => t.label },
];

function threatRow(t) {
  const review = t.reviewed ? el("span", { class: "muted" }, (t.label || "reviewed").replace("_", " ")) : el("span", { class: "pending" }, "open");
  return clickableRow(
    { dataset: { id: t.id }, class: t.reviewed ? "reviewed" : null },
    () => openDetail(t.id),
    el("td", {}, fmtTime(t.observed_at)),
    el("td", {}, badge(t.severity)),
    el("td", { class: "num" }, Number(t.score).toFixed(2)),
    el("td", { class: "mono" }, t.client_ip),
    el("td", { class: "mono request" }, requestText(t)),
    el("td", {}, (t.categories || []).join(", ")),
    el("td", {}, t.site),
    el("td", {}, review),
  );
}

function filterParams() {
  const form = new FormData($("filters"));
  const span = rangeWindow();
  const params = { ...siteParam(), limit: PAGE, since: span.from, until: span.to };
  for (const [name, value] of form.entries()) if (String(value).trim()) params[name] = String(value).trim();
  return params;
}

async function loadThreats(append) {
  const params = filterParams();
  if (append && state.cursor) params.cursor = state.cursor;
  $("filter-error").textContent = "";
  const body = $("threats").tBodies[0];
  let page;
  try {
    page = await api("/threats", { params });
  } catch (err) {
    // Never leave the previous site's rows under the error.
    body.replaceChildren();
    registerTable("threats", THREAT_COLUMNS, []);
    $("more").hidden = true;
    $("filter-error").textContent = errorText(err);
    return;
  }
  const rows = append ? [...(state.tables.threats ? state.tables.threats.rows : []), ...page.items] : page.items;
  registerTable("threats", THREAT_COLUMNS, rows);
  if (!append) body.replaceChildren();
  for (const t of page.items) body.append(threatRow(t));
  if (!body.rows.length) body.append(el("tr", {}, el("td", { class: "muted", colspan: "8" }, "No threats match.")));
  state.cursor = page.next_cursor;
  $("more").hidden = !page.next_cursor;
}

$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  loadThreats(false);
});
$("more").addEventListener("click", () => loadThreats(true));

// ------------------------------------------------------------------ threat detail

function field(name, value) {
  return [el("dt", {}, name), el("dd", { class: "mono" }, value === null || value === undefined || value === "" ? "–" : value)];
}

async function openDetail(id) {
  let t;
  try {
    t = await api(`/threats/${encodeURIComponent(id)}`);
  } catch (err) {
    status(errorText(err), true);
    return;
  }
  renderDetail(t);
  $("review-note").value = t.review_note || "";
  $("review-status").textContent = "";
  $("detail-status").textContent = "";
  $("detail").hidden = false;
  $("detail-close").focus();
}

function argumentsOf(t) {
  const names = new Set();
  for (const part of (t.query || "").split("&")) {
    const name = part.split("=")[0];
    if (name) {
      try {
        names.add(decodeURIComponent(name.replace(/\+/g, " ")));
      } catch (_) {
        names.add(name);
      }
    }
  }
  return names;
}

// The query argument a matched rule fired in, when its target names one ("args:q",
// "args_names:q"); exclusions take the argument's name.
function matchedArgument(match, t) {
  const target = String(match.target || "");
  const found = /^args(?:_names)?:(.+)$/.exec(target);
  if (found && argumentsOf(t).has(found[1])) return found[1];
  return null;
}

function renderDetail(t) {
  state.current = t;
  $("detail-id").textContent = `#${t.id}`;
  $("detail-fields").replaceChildren(
    ...field("Observed", fmtTime(t.observed_at)),
    ...field("Severity", `${t.severity} (${Number(t.score).toFixed(2)})`),
    ...field("Site", t.site),
    ...field("Client", `${t.client_ip}${t.country ? ` (${t.country})` : ""}${t.asn ? ` AS${t.asn}` : ""}`),
    ...field("Request", requestText(t)),
    ...field("Status", t.status),
    ...field("User agent", t.user_agent),
    ...field("Categories", (t.categories || []).join(", ")),
    ...field("Detection", t.detection_mode),
    ...field("Incident", t.incident_id),
    ...field("Review", t.reviewed ? `${t.label} at ${fmtTime(t.reviewed_at)}` : "not reviewed"),
  );
  const rules = (t.matched_rules || []).map((m) => {
    const item = el("li", {}, el("strong", {}, m.rule_id || "?"), ` ${m.category || ""} in ${m.target || "?"}: `, el("code", {}, m.fragment || ""));
    const ruleId = m.rule_id || "";
    if (can("admin") && ruleId && !ruleId.startsWith("behaviour:")) {
      const argument = matchedArgument(m, t);
      const where = argument ? `argument ${argument} of ${t.path}` : `path ${t.path}`;
      item.append(
        " ",
        actionButton(`Exclude on this ${argument ? "argument" : "path"}`, () =>
          act(
            `Switch rule ${ruleId} off for ${where} on site ${t.site}?`,
            "Add exclusion",
            () => api("/exclusions", { method: "POST", body: { rule_id: ruleId, site: t.site, path_prefix: t.path || "/", argument: argument || undefined, reason: `from threat #${t.id}` } }),
            "detail-status",
            `Rule ${ruleId} excluded for ${where}.`,
          ),
        ),
      );
    }
    return item;
  });
  $("detail-rules").replaceChildren(...rules);
  const actions = [];
  if (can("admin")) {
    actions.push(
      actionButton(`Block ${t.client_ip}`, () =>
        act(`Block ${t.client_ip} on site ${t.site} for 4 hours?`, "Block", () => api("/decisions", { method: "POST", body: { value: t.client_ip, site: t.site, duration_minutes: 240, reason: `from threat #${t.id}` } }), "detail-status", `${t.client_ip} blocked.`).then((ok) => ok && loadBlockedCount()),
      ),
      actionButton(`Allowlist ${t.client_ip}`, () =>
        act(`Never report ${t.client_ip} on site ${t.site} again?`, "Allowlist", () => api("/allowlist", { method: "POST", body: { kind: "ip", value: t.client_ip, site: t.site, reason: `from threat #${t.id}` } }), "detail-status", `${t.client_ip} allowlisted.`),
      ),
    );
  }
  if (t.incident_id) actions.push(actionButton("Open incident", () => openIncident(t.incident_id)));
  $("detail-actions").replaceChildren(...actions);
}

async function review(label) {
  const t = state.current;
  if (!t) return;
  const note = $("review-note").value.trim();
  try {
    const updated = await api(`/threats/${t.id}`, { method: "PATCH", body: { label, note: note || null } });
    renderDetail(updated);
    $("review-status").textContent = `Marked ${label.replace("_", " ")}.`;
    for (const row of document.querySelectorAll(`#threats [data-id="${updated.id}"]`)) row.replaceWith(threatRow(updated));
  } catch (err) {
    $("review-status").textContent = errorText(err);
  }
}

for (const button of document.querySelectorAll(".review-buttons button")) {
  button.addEventListener("click", () => review(button.dataset.label));
}

function closeDrawer(id) {
  $(id).hidden = true;
  if (id === "detail") state.current = null;
  else state.incident = null;
}
$("detail-close").addEventListener("click", () => closeDrawer("detail"));
$("incident-close").addEventListener("click", () => closeDrawer("incident"));
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || $("confirm").open) return;
  if (!$("detail").hidden) closeDrawer("detail");
  else if (!$("incident").hidden) closeDrawer("incident");
});

// ------------------------------------------------------------------ incidents

const INCIDENT_COLUMNS = [
  { title: "id", value: (i) => i.id },
  { title: "last_seen", value: (i) => i.last_seen },
  { title: "first_seen", value: (i) => i.first_seen },
  { title: "client_ip", value: (i) => i.client_ip },
  { title: "campaign", value: (i) => i.campaign || "" },
  { title: "member_count", value: (i) => i.member_count || 0 },
  { title: "event_count", value: (i) => i.event_count },
  { title: "top_severity", value: (i) => i.top_severity },
  { title: "categories", value: (i) => (i.categories || []).join(" ") },
  { title: "status", value: (i) => i.status },
  { title: "site", value: (i) => i.site },
];

async function loadIncidents() {
  const form = new FormData($("incident-filters"));
  const span = rangeWindow();
  const params = { ...siteParam(), limit: PAGE, since: span.from, until: span.to, cursor: state.incidentPages[state.incidentPageIndex] };
  for (const [name, value] of form.entries()) if (String(value).trim()) params[name] = String(value).trim();
  $("incident-error").textContent = "";
  let page;
  try {
    page = await api("/incidents", { params });
  } catch (err) {
    fillBody("incidents", [], null, "", 7);
    $("incident-error").textContent = errorText(err);
    return;
  }
  registerTable("incidents", INCIDENT_COLUMNS, page.items);
  fillBody(
    "incidents",
    page.items,
    (i) =>
      clickableRow(
        { dataset: { id: i.id } },
        () => openIncident(i.id),
        el("td", {}, fmtTime(i.last_seen)),
        el("td", { class: "mono" }, incidentWho(i)),
        el("td", { class: "num" }, fmtCount(i.event_count)),
        el("td", {}, badge(i.top_severity)),
        el("td", {}, (i.categories || []).join(", ")),
        el("td", {}, i.status),
        el("td", {}, i.site),
      ),
    "No incidents.",
    7,
  );
  state.incidentPages[state.incidentPageIndex + 1] = page.next_cursor;
  $("incidents-next").disabled = !page.next_cursor;
  $("incidents-prev").disabled = state.incidentPageIndex === 0;
  $("incidents-page").textContent = `page ${state.incidentPageIndex + 1}`;
}

// A campaign's row names its target and members (the list carries the most recent few).
function incidentWho(i) {
  if (!i.campaign) return i.client_ip;
  const shown = (i.members || []).map((m) => m.client_ip);
  const more = (i.member_count || 0) > shown.length ? " …" : "";
  return `campaign ${i.campaign}: ${fmtCount(i.member_count || 0)} clients (${shown.join(", ")}${more})`;
}

function resetIncidentPages() {
  state.incidentPages = [null];
  state.incidentPageIndex = 0;
}

$("incident-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  resetIncidentPages();
  loadIncidents();
});
$("incidents-next").addEventListener("click", () => {
  state.incidentPageIndex += 1;
  loadIncidents();
});
$("incidents-prev").addEventListener("click", () => {
  state.incidentPageIndex = Math.max(0, state.incidentPageIndex - 1);
  loadIncidents();
});

const EVENT_COLUMNS = THREAT_COLUMNS;

async function openIncident(id) {
  let incident;
  try {
    incident = await api(`/incidents/${encodeURIComponent(id)}`);
  } catch (err) {
    status(errorText(err), true);
    return;
  }
  state.incident = incident;
  $("incident-id").textContent = `#${incident.id}`;
  $("incident-status").textContent = "";
  $("incident-fields").replaceChildren(
    ...(incident.campaign
      ? [...field("Campaign", incident.campaign), ...field("Members", fmtCount(incident.member_count || 0)), ...field("Why", incident.summary || "")]
      : field("Client", incident.client_ip)),
    ...field("Site", incident.site),
    ...field("First seen", fmtTime(incident.first_seen)),
    ...field("Last seen", fmtTime(incident.last_seen)),
    ...field("Events", fmtCount(incident.event_count)),
    ...field("Severity", `${incident.top_severity} (max ${Number(incident.max_score).toFixed(2)})`),
    ...field("Categories", (incident.categories || []).join(", ")),
    ...field("Status", incident.status),
  );
  renderIncidentActions(incident);
  const decisions = incident.decisions || [];
  $("incident-decisions").replaceChildren(
    ...(decisions.length
      ? decisions.map((d) => el("li", {}, el("strong", {}, d.value), ` ${d.reason} · ${d.origin} · ${fmtTime(d.created_at)} → ${d.expires_at ? fmtTime(d.expires_at) : "no expiry"}`))
      : [el("li", { class: "muted" }, "No block decision for this incident.")]),
  );
  state.incidentMembersCursor = incident.members_next_cursor || null;
  incidentMembers(incident.members || [], false);
  incidentEvents(incident, incident.events, null);
  $("incident").hidden = false;
  $("incident-close").focus();
  // The detail carries the newest events; the whole list is paged from /threats.
  loadIncidentEvents(false);
}

function renderIncidentActions(incident) {
  const actions = [];
  if (can("write") && incident.status !== "reviewed") {
    actions.push(
      actionButton("Mark reviewed", () =>
        act(`Mark incident #${incident.id} (${incident.client_ip}) reviewed? Its client's next events start a new incident.`, "Mark reviewed", () => api(`/incidents/${incident.id}`, { method: "PATCH", body: { status: "reviewed" } }), "incident-status", "Marked reviewed.").then((ok) => {
          if (ok) {
            openIncident(incident.id);
            loadIncidents();
          }
        }),
      ),
    );
  }
  if (can("admin") && !incident.campaign) {
    // A campaign's members are blocked by the policy, each with the campaign as reason.
    actions.push(
      actionButton(`Block ${incident.client_ip}`, () =>
        act(`Block ${incident.client_ip} on site ${incident.site} for 4 hours?`, "Block", () => api("/decisions", { method: "POST", body: { value: incident.client_ip, site: incident.site, duration_minutes: 240, reason: `incident #${incident.id}` } }), "incident-status", `${incident.client_ip} blocked.`).then((ok) => ok && loadBlockedCount()),
      ),
    );
  }
  $("incident-actions").replaceChildren(...actions);
}

function incidentMembers(members, append) {
  const items = members.map((m) =>
    el("li", {}, el("strong", { class: "mono" }, m.client_ip), ` ${fmtCount(m.hits)} hits · ${fmtTime(m.first_seen)} → ${fmtTime(m.last_seen)}`),
  );
  $("incident-members-section").hidden = !state.incident || !state.incident.campaign;
  if (append) $("incident-members").append(...items);
  else $("incident-members").replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, "No members stored.")]));
  $("incident-members-more").hidden = !state.incidentMembersCursor;
}

async function loadIncidentMembers() {
  const incident = state.incident;
  if (!incident || !state.incidentMembersCursor) return;
  let page;
  try {
    page = await api(`/incidents/${encodeURIComponent(incident.id)}/members`, { params: { limit: 100, cursor: state.incidentMembersCursor } });
  } catch (err) {
    $("incident-status").textContent = errorText(err);
    return;
  }
  state.incidentMembersCursor = page.next_cursor;
  incidentMembers(page.items, true);
}

$("incident-members-more").addEventListener("click", () => loadIncidentMembers());

function incidentEvents(incident, events, cursor) {
  const evidence = [];
  for (const e of events) {
    for (const m of e.matched_rules || []) {
      if (String(m.rule_id || "").startsWith("behaviour:") && m.evidence) {
        evidence.push(el("li", {}, el("strong", {}, m.rule_id.slice(10)), ` ${fmtTime(e.observed_at)}: `, el("code", {}, JSON.stringify(m.evidence))));
      }
    }
  }
  if (!cursor) {
    $("incident-evidence").replaceChildren(...(evidence.length ? evidence : [el("li", { class: "muted" }, "No behaviour detector fired in this incident.")]));
  } else {
    $("incident-evidence").append(...evidence);
  }
}

async function loadIncidentEvents(append) {
  const incident = state.incident;
  if (!incident) return;
  const params = { incident_id: incident.id, limit: PAGE };
  if (append && state.incidentEventsCursor) params.cursor = state.incidentEventsCursor;
  let page;
  try {
    page = await api("/threats", { params });
  } catch (err) {
    $("incident-status").textContent = errorText(err);
    return;
  }
  const previous = append && state.tables.incident_events ? state.tables.incident_events.rows : [];
  const rows = [...previous, ...page.items];
  registerTable("incident_events", EVENT_COLUMNS, rows);
  if (append) incidentEvents(incident, page.items, state.incidentEventsCursor);
  else incidentEvents(incident, page.items, null);
  fillBody(
    "incident_events",
    rows,
    (t) =>
      clickableRow(
        { dataset: { id: t.id } },
        () => openDetail(t.id),
        el("td", {}, fmtTime(t.observed_at)),
        el("td", {}, badge(t.severity)),
        el("td", { class: "mono request" }, requestText(t)),
        el("td", {}, (t.categories || []).join(", ")),
        el("td", {}, t.status),
      ),
    "No events.",
    5,
  );
  state.incidentEventsCursor = page.next_cursor;
  $("incident-more").hidden = !page.next_cursor;
}
$("incident-more").addEventListener("click", () => loadIncidentEvents(true));

// ------------------------------------------------------------------ blocklist

const DECISION_COLUMNS = [
  { title: "id", value: (d) => d.id },
  { title: "value", value: (d) => d.value },
  { title: "reason", value: (d) => d.reason },
  { title: "origin", value: (d) => d.origin },
  { title: "created_at", value: (d) => d.created_at },
  { title: "expires_at", value: (d) => d.expires_at },
  { title: "site", value: (d) => d.site },
];

async function loadBlocklist() {
  await loadBlockedCount();
  const items = state.blocklist || [];
  const pages = Math.max(1, Math.ceil(items.length / PAGE));
  state.blockPage = Math.min(state.blockPage, pages - 1);
  const rows = items.slice(state.blockPage * PAGE, (state.blockPage + 1) * PAGE);
  registerTable("blocklist", DECISION_COLUMNS, items);
  fillBody(
    "blocklist",
    rows,
    (d) =>
      el(
        "tr",
        { dataset: { id: d.id } },
        el("td", { class: "mono" }, d.value),
        el("td", {}, d.reason),
        el("td", {}, d.origin),
        el("td", {}, d.expires_at ? fmtTime(d.expires_at) : "never"),
        el("td", {}, d.site === null ? "every site" : d.site),
        el("td", {}, can("admin") && (d.site !== null || can("global-admin")) ? actionButton("Unblock", () => unblock(d)) : null),
      ),
    "Nothing blocked.",
    6,
  );
  $("blocklist-page").textContent = `page ${state.blockPage + 1} of ${pages} · ${fmtCount(items.length)} decisions`;
  $("blocklist-prev").disabled = state.blockPage === 0;
  $("blocklist-next").disabled = state.blockPage >= pages - 1;
}

async function unblock(decision) {
  const ok = await act(`Unblock ${decision.value}${decision.site ? ` on site ${decision.site}` : " on every site"}?`, "Unblock", () => api(`/decisions/${decision.id}`, { method: "DELETE" }), "block-error", `${decision.value} unblocked.`);
  if (ok) loadBlocklist();
}

$("blocklist-prev").addEventListener("click", () => {
  state.blockPage -= 1;
  loadBlocklist();
});
$("blocklist-next").addEventListener("click", () => {
  state.blockPage += 1;
  loadBlocklist();
});

function formBody(form) {
  const body = {};
  for (const [name, value] of new FormData(form).entries()) {
    const text = String(value).trim();
    if (text) body[name] = text;
  }
  return body;
}

$("block-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = formBody(event.target);
  if (body.duration_minutes) body.duration_minutes = Number(body.duration_minutes);
  const site = $("site").value.trim();
  if (site) body.site = site;
  const ok = await act(`Block ${body.value}${site ? ` on site ${site}` : ""}${body.duration_minutes ? ` for ${body.duration_minutes} minutes` : ""}?`, "Block", () => api("/decisions", { method: "POST", body }), "block-error", `${body.value} blocked.`);
  if (ok) {
    event.target.reset();
    loadBlocklist();
  }
});

// ------------------------------------------------------------------ allowlist, exclusions

async function loadControls() {
  const params = siteParam();
  try {
    const [entries, exclusions] = await Promise.all([api("/allowlist", { params }), api("/exclusions", { params })]);
    registerTable("allowlist", [
      { title: "id", value: (a) => a.id },
      { title: "kind", value: (a) => a.kind },
      { title: "value", value: (a) => a.value },
      { title: "reason", value: (a) => a.reason },
      { title: "created_by", value: (a) => a.created_by },
      { title: "site", value: (a) => a.site },
    ], entries);
    fillBody(
      "allowlist",
      entries,
      (a) =>
        el("tr", { dataset: { id: a.id } }, el("td", {}, a.kind), el("td", { class: "mono" }, a.value), el("td", {}, a.reason), el("td", {}, a.created_by), el("td", {}, a.site === null ? "every site" : a.site),
          el("td", {}, can("admin") ? actionButton("Remove", () => act(`Remove ${a.kind} ${a.value} from the allowlist?`, "Remove", () => api(`/allowlist/${a.id}`, { method: "DELETE" }), "allow-error", "Removed.").then((ok) => ok && loadControls())) : null)),
      "No allowlist entries.",
      6,
    );
    registerTable("exclusions", [
      { title: "id", value: (x) => x.id },
      { title: "rule_id", value: (x) => x.rule_id },
      { title: "path_prefix", value: (x) => x.path_prefix },
      { title: "path_regex", value: (x) => x.path_regex },
      { title: "argument", value: (x) => x.argument },
      { title: "reason", value: (x) => x.reason },
      { title: "created_by", value: (x) => x.created_by },
      { title: "site", value: (x) => x.site },
    ], exclusions);
    fillBody(
      "exclusions",
      exclusions,
      (x) =>
        el("tr", { dataset: { id: x.id } }, el("td", { class: "mono" }, x.rule_id), el("td", { class: "mono" }, x.path_prefix || x.path_regex || "any"), el("td", { class: "mono" }, x.argument || "any"), el("td", {}, x.reason), el("td", {}, x.created_by), el("td", {}, x.site === null ? "every site" : x.site),
          el("td", {}, can("admin") ? actionButton("Remove", () => act(`Remove the exclusion of rule ${x.rule_id}?`, "Remove", () => api(`/exclusions/${x.id}`, { method: "DELETE" }), "exclusion-error", "Removed.").then((ok) => ok && loadControls())) : null)),
      "No exclusions.",
      7,
    );
  } catch (err) {
    $("allow-error").textContent = errorText(err);
  }
}

$("allow-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = formBody(event.target);
  const site = $("site").value.trim();
  if (site) body.site = site;
  const ok = await act(`Never report ${body.kind} ${body.value}${site ? ` on site ${site}` : ""}?`, "Add", () => api("/allowlist", { method: "POST", body }), "allow-error", "Added.");
  if (ok) {
    event.target.reset();
    loadControls();
  }
});

$("exclusion-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = formBody(event.target);
  const site = $("site").value.trim();
  if (site) body.site = site;
  const ok = await act(`Switch rule ${body.rule_id} off${body.path_prefix ? ` under ${body.path_prefix}` : ""}${body.argument ? ` in argument ${body.argument}` : ""}?`, "Add", () => api("/exclusions", { method: "POST", body }), "exclusion-error", "Added.");
  if (ok) {
    event.target.reset();
    loadControls();
  }
});

// ------------------------------------------------------------------ models

async function loadModels() {
  let result;
  try {
    result = await api("/models/status");
  } catch (err) {
    $("models-error").textContent = errorText(err);
    return;
  }
  $("retrain").hidden = !result.retrain_available;
  registerTable("models", [
    { title: "model_type", value: (m) => m.model_type },
    { title: "version", value: (m) => m.version },
    { title: "created_at", value: (m) => m.created_at },
    { title: "training_samples", value: (m) => m.training_samples },
    { title: "f1", value: (m) => m.metrics.f1 },
    { title: "is_active", value: (m) => m.is_active },
  ], result.models);
  fillBody(
    "models",
    result.models,
    (m) =>
      el(
        "tr",
        { dataset: { version: m.version } },
        el("td", {}, m.model_type),
        el("td", { class: "mono" }, m.version),
        el("td", {}, fmtTime(m.created_at)),
        el("td", { class: "num" }, fmtCount(m.training_samples)),
        el("td", { class: "num" }, m.metrics.f1 === undefined ? "" : Number(m.metrics.f1).toFixed(3)),
        el("td", {}, m.metrics.gates_passed === false ? "failed" : "passed"),
        el("td", {}, m.is_active ? "active" : ""),
        el("td", {}, can("global-admin") && !m.is_active ? actionButton("Activate", () => activateModel(m)) : null),
      ),
    "No model recorded.",
    8,
  );
  if (result.retrain) $("models-note").textContent = `Last retraining: ${result.retrain.status} (${fmtTime(result.retrain.started_at)}).`;
}

function loadedText(changed) {
  return changed.loaded ? `${changed.version} is active; the running pipeline uses ${changed.loaded} now.` : `${changed.version} is active; it is loaded when vigil next starts.`;
}

async function activateModel(m) {
  const force = m.metrics.gates_passed === false;
  let changed = null;
  const ok = await act(`Activate ${m.model_type} ${m.version}${force ? " although its validation gates failed" : ""}?`, "Activate", async () => {
    changed = await api("/models/activate", { method: "POST", body: { version: m.version, force } });
  }, "models-error", "");
  if (ok) {
    $("models-error").textContent = loadedText(changed);
    loadModels();
  }
}

for (const type of ["classifier", "anomaly"]) {
  $(`rollback-${type}`).addEventListener("click", async () => {
    let changed = null;
    const ok = await act(`Roll the ${type} back to the version before the active one?`, "Roll back", async () => {
      changed = await api("/models/rollback", { method: "POST", body: { model_type: type } });
    }, "models-error", "");
    if (ok) {
      $("models-error").textContent = loadedText(changed);
      loadModels();
    }
  });
}
$("retrain").addEventListener("click", async () => {
  const ok = await act("Retrain the classifier from the reviewed events? The new model is activated only if it passes its gates.", "Retrain", () => api("/models/retrain", { method: "POST" }), "models-error", "Retraining started.");
  if (ok) loadModels();
});

// ------------------------------------------------------------------ keys

async function loadKeys() {
  let rows;
  try {
    rows = await api("/keys");
  } catch (err) {
    $("newkey-error").textContent = errorText(err);
    return;
  }
  registerTable("keys", [
    { title: "id", value: (k) => k.id },
    { title: "name", value: (k) => k.name },
    { title: "prefix", value: (k) => k.prefix },
    { title: "scope", value: (k) => k.scope },
    { title: "sites", value: (k) => k.sites.join(" ") },
    { title: "created_at", value: (k) => k.created_at },
    { title: "last_used_at", value: (k) => k.last_used_at },
    { title: "revoked_at", value: (k) => k.revoked_at },
  ], rows);
  fillBody(
    "keys",
    rows,
    (k) =>
      el(
        "tr",
        { dataset: { id: k.id }, class: k.revoked_at ? "reviewed" : null },
        el("td", {}, k.name),
        el("td", { class: "mono" }, k.prefix),
        el("td", {}, k.scope),
        el("td", {}, k.sites.length ? k.sites.join(", ") : "all"),
        el("td", {}, fmtTime(k.created_at)),
        el("td", {}, fmtTime(k.last_used_at)),
        el("td", {}, k.revoked_at ? fmtTime(k.revoked_at) : ""),
        el("td", {}, k.revoked_at || (state.me && state.me.id === k.id) ? null : actionButton("Revoke", () => revokeKey(k))),
      ),
    "No keys.",
    8,
  );
}

async function revokeKey(k) {
  const ok = await act(`Revoke key ${k.name} (${k.prefix})? Whoever uses it is refused from now on.`, "Revoke", () => api(`/keys/${k.id}`, { method: "DELETE" }), "newkey-error", `${k.name} revoked.`);
  if (ok) loadKeys();
}

$("newkey-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = formBody(event.target);
  body.sites = (body.sites || "").split(",").map((s) => s.trim()).filter(Boolean);
  let created = null;
  const ok = await act(`Create a ${body.scope} key named ${body.name}${body.sites.length ? ` for ${body.sites.join(", ")}` : " for every site"}?`, "Create", async () => {
    created = await api("/keys", { method: "POST", body });
  }, "newkey-error", "Created.");
  if (ok && created) {
    const secret = $("newkey-secret");
    secret.replaceChildren("Copy this key now; it is not shown again: ", el("code", { id: "newkey-value" }, created.key));
    secret.hidden = false;
    event.target.reset();
    loadKeys();
  }
});

// ------------------------------------------------------------------ audit

async function loadAudit(append) {
  const params = { limit: PAGE };
  if (append && state.auditCursor) params.cursor = state.auditCursor;
  let page;
  try {
    page = await api("/audit", { params });
  } catch (err) {
    status(errorText(err), true);
    return;
  }
  const rows = append && state.tables.audit ? [...state.tables.audit.rows, ...page.items] : page.items;
  registerTable("audit", [
    { title: "at", value: (a) => a.at },
    { title: "key_name", value: (a) => a.key_name },
    { title: "action", value: (a) => a.action },
    { title: "target", value: (a) => a.target },
    { title: "site", value: (a) => a.site },
    { title: "detail", value: (a) => a.detail },
  ], rows);
  fillBody(
    "audit",
    rows,
    (a) => el("tr", {}, el("td", {}, fmtTime(a.at)), el("td", {}, a.key_name), el("td", { class: "mono" }, a.action), el("td", { class: "mono" }, a.target), el("td", {}, a.site || "–"), el("td", { class: "mono" }, Object.keys(a.detail).length ? JSON.stringify(a.detail) : "")),
    "Nothing changed yet.",
    6,
  );
  state.auditCursor = page.next_cursor;
  $("audit-more").hidden = !page.next_cursor;
}
$("audit-more").addEventListener("click", () => loadAudit(true));

// ------------------------------------------------------------------ views

const VIEW_LOADERS = {
  overview: () => renderTops(),
  threats: () => loadThreats(false),
  incidents: () => loadIncidents(),
  blocklist: () => loadBlocklist(),
  controls: () => loadControls(),
  models: () => loadModels(),
  keys: () => loadKeys(),
  audit: () => loadAudit(false),
};

function showView(name) {
  state.view = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.view === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  const load = VIEW_LOADERS[name];
  if (load) load();
}

const tabs = [...document.querySelectorAll("[role=tab]")];
for (const tab of tabs) {
  tab.addEventListener("click", () => showView(tab.dataset.view));
  // Arrow keys move between tabs, as in any tab list.
  tab.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    const visible = tabs.filter((t) => !t.hidden);
    const step = event.key === "ArrowRight" ? 1 : -1;
    const next = visible[(visible.indexOf(tab) + step + visible.length) % visible.length];
    next.focus();
    showView(next.dataset.view);
  });
}

// ------------------------------------------------------------------ live alerts

function setLive(text, ok) {
  $("live-text").textContent = text;
  $("live-status").classList.toggle("on", ok);
}

// A live alert patches what it changes: the feed, the counters and the chart's bucket, and the
// threat table when it shows the newest events unfiltered. Nothing else reloads.
function addAlert(t) {
  const feed = $("alerts");
  const waiting = feed.querySelector(".waiting");
  if (waiting) waiting.remove();
  const item = el(
    "li",
    { class: `alert ${String(t.severity).toLowerCase()}`, dataset: { id: t.id }, tabindex: "0", onclick: () => openDetail(t.id), onkeydown: (e) => (e.key === "Enter" ? openDetail(t.id) : null) },
    badge(t.severity),
    el("span", { class: "mono ip" }, t.client_ip),
    el("span", { class: "mono request" }, requestText(t)),
    el("span", { class: "when" }, fmtTime(t.observed_at)),
  );
  feed.prepend(item);
  while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
  patchStats(t);
  patchThreatTable(t);
}

// Under a flood the server sends at most a few hundred alerts a second and counts the rest:
// the counters and the chart take the counts, the feed says how many were not shown.
function addSkipped(m) {
  const feed = $("alerts");
  const item = el("li", { class: "alert skipped" }, `${fmtCount(m.count)} more alerts not shown live`);
  feed.prepend(item);
  while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
  for (const [severity, count] of Object.entries(m.severities || {})) {
    patchStats({ severity, observed_at: m.at, categories: [] }, count, false);
  }
  drawThreatChart();
}

function patchStats(t, count = 1, draw = true) {
  const stats = state.stats;
  if (!stats || !isLive()) return;
  const when = new Date(t.observed_at).getTime();
  if (when < new Date(stats.since).getTime()) return;
  const size = stats.bucket_seconds * 1000;
  const start = Math.floor(when / size) * size;
  let bucket = stats.buckets.find((b) => new Date(b.start).getTime() === start);
  if (!bucket) {
    if (when < new Date(stats.until).getTime()) return;
    bucket = { start: new Date(start).toISOString(), severities: {}, categories: {}, requests: 0, traffic: {} };
    stats.buckets.push(bucket);
    if (stats.buckets.length > 60) stats.buckets.shift();
    stats.until = new Date(start + size).toISOString();
  }
  bucket.severities[t.severity] = (bucket.severities[t.severity] || 0) + count;
  stats.totals[t.severity] = (stats.totals[t.severity] || 0) + count;
  for (const c of t.categories || []) {
    bucket.categories[c] = (bucket.categories[c] || 0) + 1;
    stats.categories[c] = (stats.categories[c] || 0) + 1;
  }
  $("count-high").textContent = fmtCount(stats.totals.HIGH);
  $("count-medium").textContent = fmtCount(stats.totals.MEDIUM);
  if (draw) drawThreatChart();
}

function patchThreatTable(t) {
  if (state.view !== "threats" || !isLive()) return;
  const form = new FormData($("filters"));
  for (const value of form.values()) if (String(value).trim()) return;
  const body = $("threats").tBodies[0];
  if (body.querySelector(`[data-id="${t.id}"]`)) return;
  const empty = body.querySelector("td.muted");
  if (empty) empty.parentElement.remove();
  body.prepend(threatRow(t));
  if (state.tables.threats) state.tables.threats.rows.unshift(t);
}

// The key never goes into the socket's URL (it would land in access logs and the console):
// the socket opens with a short-lived, single-use ticket fetched with the key in a header.
async function connect() {
  if (state.socket) state.socket.close();
  state.socket = null;
  const attempt = (state.connectAttempt = (state.connectAttempt || 0) + 1);
  // A socket for a site the key may not see is refused at the handshake, which a browser
  // cannot tell from a network failure: do not open it (nor retry it).
  const wanted = $("site").value.trim();
  if (wanted && state.me && state.me.sites && !state.me.sites.includes(wanted)) {
    setLive(`no access to ${wanted}`, false);
    return;
  }
  let ticket;
  try {
    ticket = (await api("/ws/ticket", { method: "POST" })).ticket;
  } catch (err) {
    if (attempt !== state.connectAttempt) return;
    // A refused key or site will not be accepted by retrying: say so and stop.
    if (err.status === 401 || err.status === 403) {
      setLive(err.status === 401 ? "key refused" : "no access", false);
      return;
    }
    setLive("reconnecting", false);
    setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 30000);
    return;
  }
  if (attempt !== state.connectAttempt) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const url = new URL(`${proto}://${location.host}/ws/alerts`);
  url.searchParams.set("ticket", ticket);
  const site = $("site").value.trim();
  if (site) url.searchParams.set("site", site);
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    if (message.type === "hello") {
      setLive("live", true);
      state.reconnectDelay = 1000;
      return;
    }
    if (message.type === "skipped") {
      addSkipped(message);
      return;
    }
    addAlert(message);
  };
  socket.onclose = (event) => {
    if (state.socket !== socket) return;
    if (event.code === 1008) {
      setLive("no access", false);
      return;
    }
    setLive("reconnecting", false);
    setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 30000);
  };
}

// ------------------------------------------------------------------ start

// Cards and charts first (one /stats read of the rollups); the rest after they are drawn.
async function refreshForRange() {
  status("");
  await loadStats();
  const rest = [loadBlockedCount()];
  if (state.view !== "overview") {
    resetIncidentPages();
    if (state.me) rest.push(VIEW_LOADERS[state.view]());
  } else {
    renderTops();
  }
  await Promise.allSettled(rest);
}

async function start() {
  // Who the key is and the numbers of the range are asked for at once: the cards and charts
  // do not wait for the key's scope, only the buttons do.
  const me = state.me ? Promise.resolve(state.me) : api("/keys/me");
  const asked = rangeFromHash();
  if (asked) {
    // A range asked for in the address is shown as it is, even when it is empty.
    state.firstLoad = false;
    state.range = asked;
    syncRangeControls(asked);
  }
  const shown = refreshForRange();
  try {
    state.me = await me;
  } catch (err) {
    return;
  }
  applyScope();
  showView(state.view);
  await shown;
  connect();
  clearInterval(state.statsTimer);
  // Only the counters and charts follow the clock; tables change on the operator's request.
  state.statsTimer = setInterval(() => {
    if (isLive()) loadStats().then(() => state.view === "overview" && renderTops());
  }, STATS_REFRESH_MS);
}

$("site").addEventListener("change", () => {
  resetIncidentPages();
  refreshForRange();
  connect();
});

if (state.key) start();
else askForKey("");
