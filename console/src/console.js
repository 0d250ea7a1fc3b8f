// The HMS developer console: one page, a view per section (#/windows, #/trace/<id>, ...), kept live by
// polling the console API (/_hms/api/). Every value from the stack goes into the page as text, never
// as HTML. Writes (clear traces, redrive) send X-HMS-Console, which the API requires.
const API = "/_hms/api";
const POLL_MS = 1500;
const FEED_KEEP = 300;

const state = {
  overview: null,
  feed: [], // recorded entries (requests and events), oldest first
  lastSeq: 0,
  logs: [],
  logSeq: 0,
  logFilter: { window: "", level: "" },
  route: "",
  timer: null,
};

// -- DOM helpers --------------------------------------------------------------------------------------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
function table(caption, headers, rows, { empty = "Nothing yet." } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c ?? "–"))))),
    ),
  );
}
const fmtMs = (v) => (v === null || v === undefined ? "–" : `${Number(v).toFixed(v < 10 ? 2 : 0)} ms`);
const fmtTime = (epoch) => (epoch ? new Date(epoch * 1000).toLocaleTimeString([], { hour12: false }) + "." + String(Math.floor((epoch % 1) * 1000)).padStart(3, "0") : "–");
const traceLink = (cid) => (cid ? h("a", { href: `#/trace/${encodeURIComponent(cid)}`, class: "mono" }, cid) : "–");
const badge = (text, kind) => h("span", { class: `badge badge-${kind}` }, text);
const statusBadge = (status) => badge(String(status), status >= 500 ? "bad" : status >= 400 ? "warn" : "ok");

async function api(path, options = {}) {
  const headers = { accept: "application/json", ...(options.headers || {}) };
  if (options.method && options.method !== "GET") headers["x-hms-console"] = "1";
  const resp = await fetch(API + path, { ...options, headers });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new Error((body && body.detail) || `${resp.status} ${resp.statusText}`);
  return body;
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

// -- polling ------------------------------------------------------------------------------------------
async function poll() {
  try {
    const [overview, feed] = await Promise.all([api("/overview"), api(`/feed?since=${state.lastSeq}&limit=500`)]);
    state.overview = overview;
    if (feed.entries.length) {
      state.feed.push(...feed.entries);
      if (state.feed.length > FEED_KEEP * 4) state.feed.splice(0, state.feed.length - FEED_KEEP * 4);
      state.lastSeq = feed.last_seq;
    } else if (feed.last_seq < state.lastSeq) {
      state.feed = []; // the recorder was cleared
      state.lastSeq = feed.last_seq;
    }
    if (state.route === "logs") await pollLogs();
    const rec = overview.recorder;
    setStatus(`live · ${rec.traces} traces recorded${rec.enabled ? "" : " (recording paused)"} · up ${Math.round(overview.uptime_s)} s`);
    refresh();
  } catch (err) {
    setStatus(`cannot reach the stack: ${err.message}`);
  }
}

async function pollLogs() {
  const q = new URLSearchParams({ since: String(state.logSeq), limit: "500" });
  if (state.logFilter.window) q.set("window", state.logFilter.window);
  if (state.logFilter.level) q.set("level", state.logFilter.level);
  const got = await api(`/logs?${q}`);
  state.logs.push(...got.records);
  if (state.logs.length > 1000) state.logs.splice(0, state.logs.length - 1000);
  state.logSeq = got.last_seq;
}

// -- views --------------------------------------------------------------------------------------------
const views = {
  windows: { title: "Windows", render: renderWindows, live: true },
  routes: { title: "Routes", render: renderRoutes, live: true },
  requests: { title: "Requests", render: renderRequests, live: true },
  traces: { title: "Traces", render: renderTraces, live: true },
  trace: { title: "Trace", render: renderTrace, live: false },
  topology: { title: "Topology", render: renderTopology, live: false },
  dlqs: { title: "Dead-letter queues", render: renderDlqs, live: true },
  emails: { title: "Captured emails", render: renderEmails, live: false },
  metrics: { title: "Metrics", render: renderMetrics, live: false },
  logs: { title: "Logs", render: renderLogs, live: true },
};

function currentRoute() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name: views[name] ? name : "windows", arg: decodeURIComponent(rest.join("/")) };
}

let rendering = null;
async function show() {
  const { name, arg } = currentRoute();
  state.route = name;
  const view = views[name];
  document.getElementById("title").textContent = name === "trace" ? `Trace ${arg}` : view.title;
  document.title = `${name === "trace" ? "Trace" : view.title} — HMS console`;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === `#/${name === "trace" ? "traces" : name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const target = document.getElementById("view");
  const token = {};
  rendering = token;
  const content = await view.render(arg);
  if (rendering !== token) return;
  target.replaceChildren(content);
  document.body.dataset.view = name;
  document.body.dataset.ready = "true";
}

let lastSignature = "";
function refresh() {
  const { name } = currentRoute();
  if (!views[name].live || document.querySelector("#view [data-busy]")) return;
  // never pull a control from under the user's hands, and redraw only what changed
  const active = document.activeElement;
  if (active && document.getElementById("view").contains(active) && /^(SELECT|BUTTON|INPUT|SUMMARY)$/.test(active.tagName)) return;
  const o = state.overview || {};
  const signature = JSON.stringify([name, state.lastSeq, state.logSeq, o.windows, o.subscriptions, o.recorder]);
  if (signature === lastSignature) return;
  lastSignature = signature;
  show();
}

function renderWindows() {
  const o = state.overview;
  if (!o) return h("p", {}, "Loading…");
  const rows = o.windows.map((w) => [
    h("strong", {}, w.name),
    badge(w.state, w.state === "ready" ? "ok" : w.state === "crashed" ? "bad" : "warn"),
    `${w.environments.length} (${w.busy} busy, up to ${w.concurrency})`,
    w.restarts,
    w.cold_starts,
    w.traffic.rate_per_s.toFixed(2),
    fmtMs(w.traffic.p50_ms),
    fmtMs(w.traffic.p99_ms),
    `${w.traffic.client_errors} / ${w.traffic.server_errors}`,
    w.throttles,
    w.last_error || "–",
  ]);
  return h(
    "section",
    { "aria-labelledby": "title" },
    h("p", {}, "Each window's execution environments (worker processes) and its traffic through the gateway. Rate: requests per second over the last minute; latency at the gateway."),
    table("Windows", ["window", "state", "environments", "restarts", "cold starts", "req/s", "p50", "p99", "4xx / 5xx", "throttles", "last error"], rows),
  );
}

function renderRoutes() {
  const o = state.overview;
  if (!o) return h("p", {}, "Loading…");
  const rows = o.routes.map((r) => [
    r.window,
    h("code", {}, r.method),
    h("code", {}, r.path),
    r.authorized ? (r.scopes.length ? r.scopes.join(", ") : "any valid token") : "public",
    r.rate_limit ? `${r.rate_limit.limit} per ${r.rate_limit.window} s per principal` : "–",
  ]);
  return h("section", {}, h("p", {}, "Scopes are any-of; rate limits count per principal (the token's sub, else the client IP)."), table("Routes from the manifests", ["window", "method", "path", "scopes (any of)", "rate limit"], rows));
}

function renderRequests() {
  const requests = state.feed.filter((e) => e.kind === "request").slice(-FEED_KEEP).reverse();
  const rows = requests.map((e) => [fmtTime(e.at), h("code", {}, e.method), h("code", {}, e.path), statusBadge(e.status), e.window || "–", e.sub || "–", fmtMs(e.ms), traceLink(e.correlation_id)]);
  return h("section", {}, h("p", {}, "Every request through the gateway, newest first, as it happens."), table("Live request log", ["time", "method", "path", "status", "window", "principal", "latency", "trace"], rows, { empty: "No request yet: call the API or use the portal." }));
}

async function renderTraces() {
  const data = await api("/traces?limit=100");
  const rows = data.traces.map((t) => [
    fmtTime(t.started),
    traceLink(t.correlation_id),
    t.request ? h("code", {}, `${t.request.method} ${t.request.path}`) : "events only",
    t.request ? statusBadge(t.request.status) : "–",
    t.windows.join(", "),
    t.entries,
    t.failed ? badge(`${t.failed} failed`, "bad") : badge("ok", "ok"),
  ]);
  const clear = h("button", { type: "button", class: "secondary", onclick: async () => { await api("/traces", { method: "DELETE" }); state.feed = []; state.lastSeq = 0; show(); } }, "Clear all traces");
  const paused = !data.enabled;
  const toggle = h("button", { type: "button", class: "secondary", onclick: async () => { await api("/traces/recording", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ enabled: paused }) }); poll(); } }, paused ? "Resume recording" : "Pause recording");
  return h(
    "section",
    {},
    h("p", {}, `One trace per correlation id: the request and every event it caused, across windows and retries. Kept: the last ${data.max_traces} traces (${data.traces_evicted ?? data.evicted} evicted so far).`),
    h("div", { class: "actions" }, clear, toggle),
    table("Recent traces, most recently active first", ["started", "correlation id", "request", "status", "windows", "entries", "result"], rows, { empty: "No trace yet." }),
  );
}

const KIND_LABEL = { request: "HTTP request", published: "event published", delivery: "delivery", dead_letter: "dead-lettered", redrive: "redriven", email: "email sent" };

function describe(e) {
  switch (e.kind) {
    case "request":
      return `${e.method} ${e.path} → ${e.status}${e.sub ? ` (sub ${e.sub})` : ""}`;
    case "published":
      return `${e.type} v${e.version ?? "?"} (${e.event_id}) via ${e.via}`;
    case "delivery":
      return `${e.type} to ${e.consumer} via ${e.subscription}: ${e.result}, receive ${e.receive_count}${e.error ? ` — ${e.error}` : ""}`;
    case "dead_letter":
      return `${e.type} (${e.event_id}) moved to ${e.dlq || "the DLQ"} after ${e.receive_count} receives`;
    case "redrive":
      return `${e.type} (${e.event_id}) back on ${e.subscription}`;
    case "email":
      return `email ${e.delivery || "sent"}, SES message ${e.message_id}`;
    default:
      return e.kind;
  }
}

function timeline(trace) {
  const lanes = trace.windows;
  const total = Math.max(trace.duration_ms, 1);
  const W = 900, left = 130, top = 26, laneH = 34;
  const H = top + lanes.length * laneH + 10;
  const x = (ms) => left + (ms / total) * (W - left - 20);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline", role: "img", "aria-labelledby": "tl-title" });
  svg.append(s("title", { id: "tl-title" }, `Timeline of trace ${trace.correlation_id}: ${trace.entries.length} entries over ${trace.duration_ms} ms across ${lanes.join(", ")}`));
  for (let i = 0; i <= 4; i++) {
    const ms = (total * i) / 4;
    svg.append(s("line", { x1: x(ms), x2: x(ms), y1: top - 6, y2: H - 6, class: "grid" }));
    svg.append(s("text", { x: x(ms), y: 14, class: "tick", "text-anchor": "middle" }, `${ms.toFixed(0)} ms`));
  }
  lanes.forEach((lane, i) => {
    const y = top + i * laneH;
    svg.append(s("rect", { x: 0, y, width: W, height: laneH - 4, class: i % 2 ? "lane odd" : "lane" }));
    svg.append(s("text", { x: 8, y: y + laneH / 2 + 2, class: "lane-name" }, lane));
  });
  for (const e of trace.entries) {
    const y = top + lanes.indexOf(e.window || "-") * laneH;
    const label = `${KIND_LABEL[e.kind] || e.kind}: ${describe(e)} at +${e.offset_ms} ms${e.ms !== undefined ? `, ${e.ms} ms` : ""}`;
    if (e.ms !== undefined) {
      const bad = (e.kind === "request" && e.status >= 500) || (e.kind === "delivery" && e.result === "failed");
      const g = s("g", { class: `bar bar-${e.kind}${bad ? " bar-bad" : ""}` }, s("title", {}, label));
      g.append(s("rect", { x: x(e.offset_ms), y: y + 5, width: Math.max(3, x(e.offset_ms + e.ms) - x(e.offset_ms)), height: laneH - 14, rx: 3 }));
      svg.append(g);
    } else {
      const cx = x(e.offset_ms), cy = y + laneH / 2 - 2;
      const g = s("g", { class: `mark mark-${e.kind}` }, s("title", {}, label));
      g.append(s("path", { d: `M${cx},${cy - 8} L${cx + 7},${cy} L${cx},${cy + 8} L${cx - 7},${cy} Z` }));
      svg.append(g);
    }
  }
  return svg;
}

async function renderTrace(cid) {
  let trace;
  try {
    trace = await api(`/traces/${encodeURIComponent(cid)}`);
  } catch (err) {
    return h("section", {}, h("p", { class: "error" }, err.message), h("p", {}, h("a", { href: "#/traces" }, "All traces")));
  }
  const logs = await api(`/logs?correlation_id=${encodeURIComponent(cid)}&limit=500`);
  const rows = trace.entries.map((e) => [`+${e.offset_ms.toFixed(1)} ms`, badge(KIND_LABEL[e.kind] || e.kind, e.kind === "dead_letter" || e.result === "failed" || e.status >= 500 ? "bad" : "info"), e.window || "–", describe(e), e.ms !== undefined ? fmtMs(e.ms) : "–"]);
  const legend = h("ul", { class: "legend" }, h("li", {}, h("span", { class: "key key-bar" }), "HTTP request (its duration)"), h("li", {}, h("span", { class: "key key-delivery" }), "delivery to a consumer (its duration)"), h("li", {}, h("span", { class: "key key-mark" }), "event published, email, DLQ arrival or redrive"), h("li", {}, h("span", { class: "key key-bad" }), "failed"));
  const counts = Object.entries(trace.counts).map(([k, v]) => `${v} ${KIND_LABEL[k] || k}`).join(", ");
  return h(
    "section",
    { "data-trace": trace.correlation_id },
    h("p", {}, `${counts} over ${trace.duration_ms} ms, across ${trace.windows.join(" → ")}.`, trace.dropped ? ` ${trace.dropped} more entries were not kept.` : ""),
    h("figure", {}, timeline(trace), h("figcaption", {}, legend)),
    table("Every entry of the trace, in time order", ["when", "what", "window", "detail", "duration"], rows),
    h("h2", {}, "Log lines with this correlation id"),
    table("Log lines", ["time", "source", "level", "message"], logs.records.map((r) => [fmtTime(r.at), r.window || r.source, r.level, r.message]), { empty: "No log line carries this correlation id." }),
    h("p", {}, h("a", { href: `${API}/traces/${encodeURIComponent(cid)}` }, "This trace as JSON")),
  );
}

async function renderTopology() {
  const o = state.overview || (await api("/overview"));
  const rows = o.subscriptions.map((sub) => [sub.event_type, sub.publisher, sub.consumer, h("code", {}, sub.queue), h("code", {}, sub.dlq)]);
  return h(
    "section",
    {},
    h("p", {}, `Generated from events/topology.yaml and the route manifests. A message that fails ${o.max_receive_count} times moves to its subscription's DLQ.`),
    h("div", { class: "topology" }, h("img", { src: `${API}/topology.svg`, alt: "The topology: the API gateway routes to every window; publishing windows put event types on the bus; each subscription's queue delivers to its consumer. The table below lists the same subscriptions." })),
    table("Subscriptions", ["event type", "publisher", "consumer", "queue", "DLQ"], rows),
  );
}

function renderDlqs() {
  const o = state.overview;
  if (!o) return h("p", {}, "Loading…");
  const result = h("div", { id: "dlq-detail", "aria-live": "polite" });
  const rows = o.subscriptions.map((sub) => {
    const peek = h("button", { type: "button", class: "secondary", onclick: () => peekDlq(sub.name, result) }, "Peek");
    peek.setAttribute("aria-label", `Peek at ${sub.name}'s dead letters`);
    const redrive = h("button", { type: "button", disabled: !sub.in_dlq, onclick: () => redriveDlq(sub.name, result) }, "Redrive");
    redrive.setAttribute("aria-label", `Redrive ${sub.name}'s dead letters`);
    return [h("code", {}, sub.name), sub.consumer, sub.in_dlq === null ? "?" : sub.in_dlq ? badge(String(sub.in_dlq), "bad") : "0", sub.delivered, sub.failed, sub.last_error || "–", h("span", { class: "actions" }, peek, redrive)];
  });
  return h("section", {}, table("Subscriptions and their DLQs", ["subscription", "consumer", "in DLQ", "delivered", "failed deliveries", "last error", "actions"], rows), result);
}

async function peekDlq(name, into) {
  into.dataset.busy = "1";
  into.replaceChildren(h("p", {}, `Peeking at ${name}…`));
  try {
    const got = await api(`/dlqs/${encodeURIComponent(name)}`);
    const rows = got.messages.map((m) => [h("code", {}, m.message_id), m.event_type, traceLink(m.correlation_id), m.receive_count, m.excerpt]);
    into.replaceChildren(h("h2", {}, `${got.dlq}: ${got.messages.length} message(s), left in place`), table(`Messages in ${got.dlq}`, ["message id", "event type", "trace", "receives", "body"], rows, { empty: "No dead letters." }));
  } catch (err) {
    into.replaceChildren(h("p", { class: "error" }, err.message));
  }
}

async function redriveDlq(name, into) {
  into.dataset.busy = "1";
  try {
    const got = await api(`/dlqs/${encodeURIComponent(name)}/redrive`, { method: "POST" });
    into.replaceChildren(h("p", { class: got.failed ? "error" : "done" }, `Moved ${got.moved} message(s) back to ${name}'s queue${got.failed ? `; ${got.failed} could not be moved` : ""}.`));
  } catch (err) {
    into.replaceChildren(h("p", { class: "error" }, err.message));
  }
  delete into.dataset.busy;
}

async function renderEmails() {
  const got = await api("/emails");
  const items = got.emails.map((m) =>
    h(
      "article",
      { class: "email" },
      h("h2", {}, m.subject || "(no subject)"),
      h("p", { class: "meta" }, `To ${m.to.join(", ")} from ${m.from} at ${fmtTime(m.timestamp)} · trace `, traceLink(m.correlation_id)),
      h("details", {}, h("summary", {}, "The letter (text)"), h("pre", {}, m.text || "")),
    ),
  );
  const refreshBtn = h("button", { type: "button", class: "secondary", onclick: show }, "Refresh");
  return h("section", {}, h("p", {}, got.source ? `What the emulator (${got.source}) captured, newest first.` : "The emulator does not expose captured emails."), h("div", { class: "actions" }, refreshBtn), items.length ? h("div", {}, items) : h("p", { class: "empty" }, "No email yet."));
}

async function renderMetrics() {
  const got = await api("/metrics");
  const windows = Object.entries(got.metrics);
  const refreshBtn = h("button", { type: "button", class: "secondary", onclick: show }, "Refresh");
  return h(
    "section",
    {},
    h("p", {}, "Each window's Powertools metrics: the EMF lines it wrote (what CloudWatch would receive), summed since the stack started."),
    h("div", { class: "actions" }, refreshBtn),
    windows.length ? windows.map(([w, ms]) => table(`${w}`, ["metric", "unit", "total", "samples", "last", "dimensions"], ms.map((m) => [h("code", {}, m.name), m.unit, m.sum, m.samples, m.last, Object.entries(m.dimensions || {}).map(([k, v]) => `${k}=${v}`).join(", ")]))) : h("p", { class: "empty" }, "No metric yet."),
  );
}

function renderLogs() {
  const o = state.overview;
  const windows = o ? o.windows.map((w) => w.name) : [];
  const sel = h("select", { id: "log-window", onchange: (ev) => { state.logFilter.window = ev.target.value; state.logs = []; state.logSeq = 0; poll(); } }, h("option", { value: "" }, "everything"), [...windows, "gateway", "events", "outbox", "hms"].map((w) => h("option", { value: w, selected: state.logFilter.window === w }, w)));
  const lvl = h("select", { id: "log-level", onchange: (ev) => { state.logFilter.level = ev.target.value; state.logs = []; state.logSeq = 0; poll(); } }, ["", "DEBUG", "INFO", "WARNING", "ERROR"].map((l) => h("option", { value: l, selected: state.logFilter.level === l }, l || "any level")));
  const rows = state.logs.slice(-300).reverse().map((r) => [fmtTime(r.at), r.window || r.source, h("span", { class: `level level-${r.level}` }, r.level), traceLink(r.correlation_id), r.message]);
  return h(
    "section",
    {},
    h("form", { class: "filters", onsubmit: (ev) => ev.preventDefault() }, h("label", { for: "log-window" }, "Source"), sel, h("label", { for: "log-level" }, "Level at least"), lvl),
    table("The stack's log lines, newest first", ["time", "source", "level", "trace", "message"], rows, { empty: "No log line yet." }),
  );
}

window.addEventListener("hashchange", () => {
  show();
  document.getElementById("main").focus({ preventScroll: true });
});
window.addEventListener("DOMContentLoaded", async () => {
  await poll();
  await show();
  state.timer = setInterval(poll, POLL_MS);
});
