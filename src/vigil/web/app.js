// vigil dashboard: plain DOM, no build step. Log data is attacker-controlled, so every value
// is inserted as text (textContent), never as HTML.
"use strict";

const KEY_STORAGE = "vigil.apiKey";
const MAX_FEED = 50;
const REFRESH_MS = 30000;

const state = {
  key: localStorage.getItem(KEY_STORAGE) || "",
  cursor: null,
  socket: null,
  reconnectDelay: 1000,
  refreshTimer: null,
  current: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
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

function fmtCount(n) {
  return typeof n === "number" ? n.toLocaleString() : "–";
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
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let payload = null;
  try {
    payload = await response.json();
  } catch (_) {
    payload = null;
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
    await api("/threats", { params: { limit: 1 } });
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

// ------------------------------------------------------------------ stats, chart, tops

function drawChart(buckets) {
  const holder = $("chart");
  holder.replaceChildren();
  const width = 640;
  const height = 180;
  const pad = { left: 34, right: 6, top: 8, bottom: 22 };
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const max = Math.max(1, ...buckets.map((b) => (b.severities.HIGH || 0) + (b.severities.MEDIUM || 0)));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = buckets.length ? plotW / buckets.length : plotW;
  const line = (x1, y1, x2, y2, cls) => {
    const l = document.createElementNS(ns, "line");
    Object.entries({ x1, y1, x2, y2 }).forEach(([k, v]) => l.setAttribute(k, v));
    l.setAttribute("class", cls);
    svg.append(l);
  };
  const text = (x, y, value, anchor) => {
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", x);
    t.setAttribute("y", y);
    t.setAttribute("text-anchor", anchor);
    t.textContent = value;
    svg.append(t);
  };
  line(pad.left, pad.top + plotH, width - pad.right, pad.top + plotH, "axis");
  text(pad.left - 4, pad.top + 8, String(max), "end");
  text(pad.left - 4, pad.top + plotH, "0", "end");
  buckets.forEach((b, i) => {
    const x = pad.left + i * barW;
    let y = pad.top + plotH;
    for (const sev of ["MEDIUM", "HIGH"]) {
      const n = b.severities[sev] || 0;
      if (!n) continue;
      const h = (n / max) * plotH;
      y -= h;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", x + 1);
      rect.setAttribute("y", y);
      rect.setAttribute("width", Math.max(1, barW - 2));
      rect.setAttribute("height", h);
      rect.setAttribute("class", sev.toLowerCase());
      const title = document.createElementNS(ns, "title");
      title.textContent = `${fmtTime(b.start)}: ${n} ${sev.toLowerCase()}`;
      rect.append(title);
      svg.append(rect);
    }
  });
  if (buckets.length) {
    text(pad.left, height - 6, fmtTime(buckets[0].start), "start");
    text(width - pad.right, height - 6, fmtTime(buckets[buckets.length - 1].start), "end");
  }
  holder.append(svg);
}

function fillTop(tableId, rows, label) {
  const table = $(tableId);
  table.replaceChildren(el("tr", {}, el("th", {}, label), el("th", { class: "num" }, "Events")));
  if (!rows.length) table.append(el("tr", {}, el("td", { class: "muted", colspan: "2" }, "none")));
  for (const row of rows) {
    table.append(el("tr", {}, el("td", { class: "mono" }, row.value), el("td", { class: "num" }, fmtCount(row.count))));
  }
}

async function loadStats() {
  const stats = await api("/stats", { params: { range: $("range").value, ...siteParam() } });
  $("count-high").textContent = fmtCount(stats.totals.HIGH);
  $("count-medium").textContent = fmtCount(stats.totals.MEDIUM);
  $("count-requests").textContent = fmtCount(stats.traffic.requests);
  drawChart(stats.buckets);
  fillTop("top-ips", stats.top_ips, "Client");
  fillTop("top-rules", stats.top_rules, "Rule");
  fillTop("top-paths", stats.top_paths, "Path");
}

// ------------------------------------------------------------------ threats table

function threatRow(t) {
  const review = t.reviewed ? el("span", { class: "muted" }, (t.label || "reviewed").replace("_", " ")) : el("span", { class: "pending" }, "open");
  return el(
    "tr",
    { dataset: { id: t.id }, onclick: () => openDetail(t.id) },
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
  const params = { ...siteParam(), limit: 25 };
  for (const [name, value] of form.entries()) if (String(value).trim()) params[name] = String(value).trim();
  return params;
}

async function loadThreats(append) {
  const params = filterParams();
  if (append && state.cursor) params.cursor = state.cursor;
  $("filter-error").textContent = "";
  let page;
  try {
    page = await api("/threats", { params });
  } catch (err) {
    $("filter-error").textContent = errorText(err);
    return;
  }
  const body = $("threats").tBodies[0];
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

// ------------------------------------------------------------------ incidents, blocklist

async function loadIncidents() {
  const page = await api("/incidents", { params: { ...siteParam(), limit: 15 } });
  const body = $("incidents").tBodies[0];
  body.replaceChildren();
  for (const i of page.items) {
    body.append(
      el(
        "tr",
        {},
        el("td", {}, fmtTime(i.last_seen)),
        el("td", { class: "mono" }, i.client_ip),
        el("td", { class: "num" }, fmtCount(i.event_count)),
        el("td", {}, badge(i.top_severity)),
        el("td", {}, (i.categories || []).join(", ")),
        el("td", {}, i.site),
      ),
    );
  }
  if (!page.items.length) body.append(el("tr", {}, el("td", { class: "muted", colspan: "6" }, "No incidents.")));
}

async function loadBlocklist() {
  const list = await api("/blocklist", { params: siteParam() });
  $("count-blocked").textContent = fmtCount(list.count);
  const body = $("blocklist").tBodies[0];
  body.replaceChildren();
  for (const d of list.items.slice(0, 50)) {
    body.append(
      el(
        "tr",
        {},
        el("td", { class: "mono" }, d.value),
        el("td", {}, d.reason),
        el("td", {}, d.expires_at ? fmtTime(d.expires_at) : "never"),
        el("td", {}, d.site),
      ),
    );
  }
  if (!list.items.length) body.append(el("tr", {}, el("td", { class: "muted", colspan: "4" }, "Nothing blocked.")));
}

// ------------------------------------------------------------------ detail and review

function field(name, value) {
  return [el("dt", {}, name), el("dd", { class: "mono" }, value === null || value === undefined || value === "" ? "–" : value)];
}

async function openDetail(id) {
  let t;
  try {
    t = await api(`/threats/${encodeURIComponent(id)}`);
  } catch (err) {
    return;
  }
  renderDetail(t);
  $("review-note").value = t.review_note || "";
  $("review-status").textContent = "";
  $("detail").hidden = false;
}

function renderDetail(t) {
  state.current = t;
  $("detail-id").textContent = `#${t.id}`;
  $("detail-fields").replaceChildren(
    ...field("Observed", fmtTime(t.observed_at)),
    ...field("Severity", `${t.severity} (${Number(t.score).toFixed(2)})`),
    ...field("Site", t.site),
    ...field("Client", `${t.client_ip}${t.country ? ` (${t.country})` : ""}`),
    ...field("Request", requestText(t)),
    ...field("Status", t.status),
    ...field("User agent", t.user_agent),
    ...field("Categories", (t.categories || []).join(", ")),
    ...field("Detection", t.detection_mode),
    ...field("Incident", t.incident_id),
    ...field("Review", t.reviewed ? `${t.label} at ${fmtTime(t.reviewed_at)}` : "not reviewed"),
  );
  $("detail-rules").replaceChildren(
    ...(t.matched_rules || []).map((m) =>
      el("li", {}, el("strong", {}, m.rule_id || "?"), ` ${m.category || ""} in ${m.target || "?"}: `, el("code", {}, m.fragment || "")),
    ),
  );
}

async function review(label) {
  const t = state.current;
  if (!t) return;
  const note = $("review-note").value.trim();
  try {
    const updated = await api(`/threats/${t.id}`, { method: "PATCH", body: { label, note: note || null } });
    renderDetail(updated);
    $("review-status").textContent = `Marked ${label.replace("_", " ")}.`;
    for (const row of document.querySelectorAll(`[data-id="${updated.id}"]`)) row.classList.add("reviewed");
    loadThreats(false);
  } catch (err) {
    $("review-status").textContent = err.status === 403 ? "This key cannot review (needs write scope)." : errorText(err);
  }
}

for (const button of document.querySelectorAll(".review-buttons button")) {
  button.addEventListener("click", () => review(button.dataset.label));
}
$("detail-close").addEventListener("click", () => {
  $("detail").hidden = true;
  state.current = null;
});

// ------------------------------------------------------------------ live alerts

function setLive(text, ok) {
  $("live-text").textContent = text;
  $("live-status").classList.toggle("on", ok);
}

function addAlert(t) {
  const feed = $("alerts");
  const waiting = feed.querySelector(".muted");
  if (waiting) waiting.remove();
  const item = el(
    "li",
    { class: `alert ${String(t.severity).toLowerCase()}`, dataset: { id: t.id }, onclick: () => openDetail(t.id) },
    badge(t.severity),
    el("span", { class: "mono ip" }, t.client_ip),
    el("span", { class: "mono request" }, requestText(t)),
    el("span", { class: "when" }, fmtTime(t.observed_at)),
  );
  feed.prepend(item);
  while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
  scheduleRefresh();
}

let refreshSoon = null;
function scheduleRefresh() {
  if (refreshSoon) return;
  refreshSoon = setTimeout(() => {
    refreshSoon = null;
    refreshAll();
  }, 2000);
}

// The key never goes into the socket's URL (it would land in access logs and the console):
// the socket opens with a short-lived, single-use ticket fetched with the key in a header.
async function connect() {
  if (state.socket) state.socket.close();
  state.socket = null;
  const attempt = (state.connectAttempt = (state.connectAttempt || 0) + 1);
  let ticket;
  try {
    ticket = (await api("/ws/ticket", { method: "POST" })).ticket;
  } catch (err) {
    if (attempt !== state.connectAttempt) return;
    setLive(err.status === 401 ? "key refused" : "reconnecting", false);
    if (err.status !== 401) {
      setTimeout(connect, state.reconnectDelay);
      state.reconnectDelay = Math.min(state.reconnectDelay * 2, 30000);
    }
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
    addAlert(message);
  };
  socket.onclose = (event) => {
    if (state.socket !== socket) return;
    setLive(event.code === 1008 ? "key refused" : "reconnecting", false);
    setTimeout(connect, state.reconnectDelay);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 30000);
  };
}

// ------------------------------------------------------------------ start

async function refreshAll() {
  const results = await Promise.allSettled([loadStats(), loadThreats(false), loadIncidents(), loadBlocklist()]);
  for (const r of results) if (r.status === "rejected") console.warn(r.reason);
}

function start() {
  refreshAll();
  connect();
  clearInterval(state.refreshTimer);
  state.refreshTimer = setInterval(refreshAll, REFRESH_MS);
}

$("range").addEventListener("change", loadStats);
$("site").addEventListener("change", () => {
  refreshAll();
  connect();
});

if (state.key) start();
else askForKey("");
