// Rocketry's dashboard: one page per view, drawn from the broker's JSON API (/api/...).
// Plain JavaScript, no build step: served from the binary as written here.
"use strict";

const page = document.getElementById("page");
const status = document.getElementById("status");
// The page whose redraws are scheduled; a new page stops the old one's.
let current = null;

// Redraws every 5 s, the next only once the last has finished (a slow cluster is not asked
// again and again meanwhile).
function poll(draw) {
  const token = {};
  current = token;
  const tick = async () => {
    if (current !== token) return;
    await draw();
    if (current === token) setTimeout(tick, 5000);
  };
  setTimeout(tick, 5000);
}

// ---- helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(path, options) {
  const res = await fetch(path, Object.assign({ headers: { "Content-Type": "application/json" } }, options || {}));
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function time(ms) {
  if (!ms || ms <= 0) return "-";
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function num(v, digits) {
  if (v === null || v === undefined || v === "") return "-";
  const n = Number(v);
  return Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits || 0 }) : String(v);
}

function table(headers, rows, onclick) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map(([label, cls]) => h("th", { class: cls }, label)))),
    h("tbody", {}, rows.length === 0
      ? h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "none"))
      : rows.map((cells, i) => h("tr", onclick ? { class: "clickable", onclick: () => onclick(i) } : {},
        cells.map((c, j) => h("td", { class: headers[j][1] }, c))))));
}

function card(label, value) {
  return h("div", { class: "card" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}

function showError(where, e) {
  where.replaceChildren(h("div", { class: "error", role: "alert" }, e.message || String(e)));
}

// A line chart of [in, out] points, newest last.
function chart(points, stepSecs) {
  const w = 1000, hgt = 170, pad = 24;
  const max = Math.max(1, ...points.flat());
  const x = (i) => pad + (points.length <= 1 ? 0 : (i * (w - 2 * pad)) / (points.length - 1));
  const y = (v) => hgt - pad - (v * (hgt - 2 * pad)) / max;
  const line = (k) => points.map((p, i) => `${x(i).toFixed(1)},${y(p[k]).toFixed(1)}`).join(" ");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.innerHTML =
    `<line x1="${pad}" y1="${hgt - pad}" x2="${w - pad}" y2="${hgt - pad}" stroke="#cbd5e1"/>` +
    `<text x="${pad}" y="14" font-size="11" fill="#667085">${num(max, 1)} msg/s</text>` +
    `<text x="${w - pad}" y="${hgt - 6}" font-size="11" fill="#667085" text-anchor="end">now</text>` +
    `<text x="${pad}" y="${hgt - 6}" font-size="11" fill="#667085">-${Math.round((points.length * stepSecs) / 60)} min</text>` +
    (points.length > 1
      ? `<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${line(0)}"/>` +
        `<polyline fill="none" stroke="#16a34a" stroke-width="2" points="${line(1)}"/>`
      : "");
  return h("div", { class: "chart" }, svg,
    h("div", { class: "legend" },
      h("span", {}, h("i", { class: "in" }), "in (stored)"),
      h("span", {}, h("i", { class: "out" }), "out (handed to consumers)")));
}

function messageRows(list) {
  return list.map((m) => [m.msgId, m.topic, m.tags || "-", m.keys || "-", num(m.queueId), num(m.queueOffset), time(m.storeTimestamp)]);
}
const MESSAGE_HEADERS = [["Message ID"], ["Topic"], ["Tags"], ["Keys"], ["Queue", "num"], ["Offset", "num"], ["Stored"]];

// ---- pages

const pages = {
  async cluster() {
    const body = h("div");
    page.replaceChildren(h("h2", {}, "Cluster"), body);
    const draw = async () => {
      try {
        const o = await api("/api/overview");
        const hl = o.health;
        const last = o.history.points[o.history.points.length - 1] || [0, 0];
        body.replaceChildren(
          h("div", { class: "cards" },
            card("Broker", `${hl.brokerName} (${hl.cluster})`),
            card("Ready", hl.ready ? "yes" : "no: " + hl.reasons.join("; ")),
            card("In now", `${num(last[0], 1)} msg/s`),
            card("Out now", `${num(last[1], 1)} msg/s`),
            card("Stored since start", num(o.totals.inMessages)),
            card("Handed out since start", num(o.totals.outMessages)),
            card("Disk used", `${num(hl.diskUsedRatio * 100, 2)} %`),
            card("Up", `${num(hl.uptimeMs / 60000, 1)} min`)),
          h("h2", {}, "Last hour (this broker)"),
          chart(o.history.points, o.history.stepSecs),
          h("h2", {}, "Brokers"),
          table([["Cluster"], ["Broker"], ["ID", "num"], ["Address"], ["Version"], ["In TPS", "num"], ["Out TPS", "num"], ["In today", "num"], ["Out today", "num"], ["Disk"]],
            o.brokers.map((b) => [b.cluster, b.brokerName, b.brokerId, b.addr, b.version || b.error || "-", num(b.inTps, 2), num(b.outTps, 2), num(b.putToday), num(b.getToday), b.diskRatio || "-"])));
      } catch (e) {
        showError(body, e);
      }
    };
    await draw();
    poll(draw);
  },

  async topics() {
    const note = h("div");
    const list = h("div");
    const form = h("form", { id: "create-topic", onsubmit: async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      try {
        await api("/api/topics", { method: "POST", body: JSON.stringify({ topic: f.get("topic"), queues: Number(f.get("queues")), messageType: f.get("messageType") }) });
        note.replaceChildren(h("div", { class: "ok", role: "status" }, `Topic ${f.get("topic")} created.`));
        form.reset();
        await draw();
      } catch (e) {
        showError(note, e);
      }
    } },
      h("label", {}, "Topic", h("input", { name: "topic", required: true, pattern: "[%\\|a-zA-Z0-9_\\-]+", placeholder: "orders" })),
      h("label", {}, "Queues", h("input", { name: "queues", type: "number", min: 1, max: 1024, value: 8 })),
      h("label", {}, "Message type", h("select", { name: "messageType" }, ["NORMAL", "FIFO", "DELAY", "TRANSACTION"].map((t) => h("option", {}, t)))),
      h("button", { type: "submit" }, "Create topic"));
    page.replaceChildren(h("h2", {}, "Topics"), form, note, list);
    const draw = async () => {
      try {
        const topics = await api("/api/topics");
        const rows = topics.map((t) => {
          const del = h("button", { class: "danger", type: "button", "data-topic": t.topic, onclick: async () => {
            if (del.dataset.armed !== "1") { del.dataset.armed = "1"; del.textContent = "Confirm delete"; return; }
            try {
              await api(`/api/topics/${encodeURIComponent(t.topic)}`, { method: "DELETE" });
              note.replaceChildren(h("div", { class: "ok", role: "status" }, `Topic ${t.topic} deleted.`));
              await draw();
            } catch (e) {
              showError(note, e);
            }
          } }, "Delete");
          return [t.topic, (t.clusters || []).join(", "), t.messageType || "-", `${t.readQueues ?? "-"} / ${t.writeQueues ?? "-"}`, t.perm ?? "-", num(t.inRate, 1), (t.groups || []).join(", ") || "-", t.system ? "system" : del];
        });
        list.replaceChildren(table([["Topic"], ["Cluster"], ["Type"], ["Queues (r/w)"], ["Perm"], ["In msg/s", "num"], ["Consumer groups"], [""]], rows));
      } catch (e) {
        showError(list, e);
      }
    };
    await draw();
    poll(draw);
  },

  async groups(name) {
    if (name) return groupDetail(name);
    const list = h("div");
    page.replaceChildren(h("h2", {}, "Consumer groups"), list);
    const draw = async () => {
      try {
        const groups = await api("/api/groups");
        list.replaceChildren(table([["Group"], ["Clients", "num"], ["Version"], ["Type"], ["Model"], ["TPS", "num"], ["Lag", "num"]],
          groups.map((g) => [g.group, num(g.count), g.version, g.type || "-", g.model || "-", num(g.consumeTps, 1), num(g.diffTotal)]),
          (i) => { location.hash = `#/groups/${encodeURIComponent(groups[i].group)}`; }));
      } catch (e) {
        showError(list, e);
      }
    };
    await draw();
    poll(draw);
  },

  async messages() {
    const results = h("div");
    const detail = h("div");
    const search = async (params) => {
      detail.replaceChildren();
      try {
        const found = await api("/api/messages?" + new URLSearchParams(params));
        results.replaceChildren(h("p", { class: "muted" }, `${found.length} message(s)`),
          table(MESSAGE_HEADERS, messageRows(found), (i) => showMessage(found[i], detail)));
      } catch (e) {
        showError(results, e);
      }
    };
    const byKey = h("form", { id: "by-key", onsubmit: (ev) => { ev.preventDefault(); const f = new FormData(byKey); search({ topic: f.get("topic"), key: f.get("key") }); } },
      h("label", {}, "Topic", h("input", { name: "topic", required: true })),
      h("label", {}, "Key", h("input", { name: "key", required: true })),
      h("button", { type: "submit" }, "Find by key"));
    const byId = h("form", { id: "by-id", onsubmit: (ev) => { ev.preventDefault(); const f = new FormData(byId); search({ id: f.get("id"), topic: f.get("topic") }); } },
      h("label", {}, "Message ID", h("input", { name: "id", required: true, size: 36 })),
      h("label", {}, "Topic (for a client id)", h("input", { name: "topic" })),
      h("button", { type: "submit" }, "Find by id"));
    const byTime = h("form", { id: "by-time", onsubmit: (ev) => {
      ev.preventDefault();
      const f = new FormData(byTime);
      const p = { topic: f.get("topic") };
      if (f.get("begin")) p.begin = Date.parse(f.get("begin") + "Z");
      if (f.get("end")) p.end = Date.parse(f.get("end") + "Z");
      search(p);
    } },
      h("label", {}, "Topic", h("input", { name: "topic", required: true })),
      h("label", {}, "From (UTC)", h("input", { name: "begin", type: "datetime-local" })),
      h("label", {}, "To (UTC)", h("input", { name: "end", type: "datetime-local" })),
      h("button", { type: "submit" }, "Find by time"));
    page.replaceChildren(h("h2", {}, "Messages"), byKey, byId, byTime, results, detail);
  },

  async dlq() {
    const results = h("div");
    const note = h("div");
    const form = h("form", { id: "dlq", onsubmit: async (ev) => {
      ev.preventDefault();
      const group = new FormData(form).get("group");
      try {
        const d = await api(`/api/dlq/${encodeURIComponent(group)}`);
        results.replaceChildren(h("p", { class: "muted" }, `${d.messages.length} message(s) in ${d.topic}`),
          table([...MESSAGE_HEADERS, ["Retries", "num"], [""]], d.messages.map((m, i) => [...messageRows([m])[0], num(m.reconsumeTimes),
            h("button", { class: "secondary", type: "button", onclick: async () => {
              try {
                const r = await api(`/api/dlq/${encodeURIComponent(group)}/resend`, { method: "POST", body: JSON.stringify({ msgId: d.messages[i].msgId }) });
                note.replaceChildren(h("div", { class: "ok", role: "status" }, `Sent again to %RETRY%${group} as ${r.msgId}.`));
              } catch (e) {
                showError(note, e);
              }
            } }, "Resend")])));
      } catch (e) {
        showError(results, e);
      }
    } },
      h("label", {}, "Consumer group", h("input", { name: "group", required: true })),
      h("button", { type: "submit" }, "Show dead letters"));
    page.replaceChildren(h("h2", {}, "Dead letters"), form, note, results);
  },
};

async function groupDetail(name) {
  const body = h("div");
  const note = h("div");
  page.replaceChildren(h("h2", {}, `Consumer group ${name}`), note, body);
  const draw = async () => {
    try {
      const g = await api(`/api/groups/${encodeURIComponent(name)}`);
      const c = g.connection;
      const topics = [...new Set(g.queues.map((q) => q.topic))].filter((t) => !t.startsWith("%"));
      const reset = h("form", { id: "reset", onsubmit: async (ev) => {
        ev.preventDefault();
        const f = new FormData(reset);
        const ts = f.get("time") ? Date.parse(f.get("time") + "Z") : Date.now();
        try {
          const r = await api(`/api/groups/${encodeURIComponent(name)}/reset`, { method: "POST", body: JSON.stringify({ topic: f.get("topic"), timestamp: ts }) });
          note.replaceChildren(h("div", { class: "ok", role: "status" }, `Offsets of ${r.topic} reset on ${r.offsets.length} queue(s).`));
        } catch (e) {
          showError(note, e);
        }
      } },
        h("label", {}, "Topic", h("select", { name: "topic" }, topics.map((t) => h("option", {}, t)))),
        h("label", {}, "To the first message stored at (UTC; empty: now)", h("input", { name: "time", type: "datetime-local" })),
        h("button", { type: "submit", disabled: topics.length === 0 }, "Reset offsets"));
      body.replaceChildren(
        h("div", { class: "cards" }, card("Lag", num(g.diffTotal)), card("Consume TPS", num(g.consumeTps, 1)), card("Clients", c ? c.connectionSet.length : 0)),
        h("h2", {}, "Lag per queue"),
        table([["Topic"], ["Broker"], ["Queue", "num"], ["Broker offset", "num"], ["Consumer offset", "num"], ["Lag", "num"], ["Last consumed"]],
          g.queues.map((q) => [q.topic, q.brokerName, num(q.queueId), num(q.brokerOffset), num(q.consumerOffset), num(q.diff), time(q.lastTimestamp)])),
        h("h2", {}, "Clients"),
        c ? table([["Client ID"], ["Address"], ["Language"], ["Version", "num"]], c.connectionSet.map((x) => [x.clientId, x.clientAddr, x.language, x.version]))
          : h("p", { class: "muted" }, "No client online."),
        h("h2", {}, "Subscriptions"),
        c ? table([["Topic"], ["Expression"], ["Type"]], Object.entries(c.subscriptionTable).map(([t, s]) => [t, s.subString, s.expressionType || "TAG"])) : h("p", { class: "muted" }, "-"),
        h("h2", {}, "Reset offsets"),
        reset);
    } catch (e) {
      showError(body, e);
    }
  };
  await draw();
}

async function showMessage(m, where) {
  where.replaceChildren(h("h2", {}, `Message ${m.msgId}`),
    table([["Field"], ["Value"]], [
      ["Topic", m.topic], ["Tags", m.tags || "-"], ["Keys", m.keys || "-"], ["Offset ID", m.offsetMsgId],
      ["Queue / offset", `${m.queueId} / ${m.queueOffset}`], ["Born", `${time(m.bornTimestamp)} at ${m.bornHost}`],
      ["Stored", `${time(m.storeTimestamp)} at ${m.storeHost}`], ["Retries", m.reconsumeTimes],
      ["Properties", h("pre", {}, JSON.stringify(m.properties, null, 1))], ["Body", h("pre", {}, m.body)]]),
    h("h2", {}, "Trace"));
  const trace = h("div");
  where.append(trace);
  try {
    const t = await api(`/api/trace/${encodeURIComponent(m.msgId)}`);
    trace.replaceChildren(t.records.length === 0
      ? h("p", { class: "muted" }, "No trace records (clients with message trace on write them).")
      : table([["Type"], ["Group"], ["Client"], ["Time"], ["Cost", "num"], ["Result"]],
        t.records.map((r) => [r.type, r.group || "-", r.clientHost || "-", time(r.time), r.costMs === undefined || r.costMs === null ? "-" : `${r.costMs} ms`,
          r.type === "SubBefore" ? `retry ${r.retryTimes}` : r.state || (r.success === undefined ? "-" : r.success ? "success" : "failed")])));
  } catch (e) {
    showError(trace, e);
  }
}

async function route() {
  current = null;
  const [, name, arg] = (location.hash || "#/cluster").split("/");
  const view = Object.hasOwn(pages, name || "") ? name : "cluster";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === view);
  status.textContent = "";
  try {
    await pages[view](arg ? decodeURIComponent(arg) : undefined);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    showError(page, e);
  }
}

window.addEventListener("hashchange", route);
route();
