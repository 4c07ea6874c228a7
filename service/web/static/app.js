// dasedge live dashboard: vanilla JS, no build step, no CDN.
// Data: GET api/v1/live/overview and api/v1/live/waterfall (polled), alerts
// over Server-Sent Events read with fetch() so the X-API-Key header can be sent
// (EventSource cannot send headers).
"use strict";

const API = new URL("../api/v1/", document.baseURI).href; // page is served at /dashboard/
const POLL_MS = 2000;
const COLORS = { pos: "#35d0ff", neg: "#ffb02e", P: "#7dff7a", S: "#ff5ad1" };

const state = {
  key: "",
  overview: null,
  waterfall: null,
  alerts: new Map(), // seq -> alert
  lastAlertSeq: null,
  sseAbort: null,
  timer: null,
};

const $ = (id) => document.getElementById(id);

function setStatus(text, cls) {
  const s = $("status");
  s.textContent = text;
  s.className = "status " + (cls || "");
}

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) u.set(k, v);
  return u.toString();
}

async function getJSON(path, params) {
  const r = await fetch(API + path + "?" + qs(params || {}), { headers: { "X-API-Key": state.key } });
  if (r.status === 204) return null;
  if (!r.ok) {
    const err = new Error(`${path}: HTTP ${r.status}`);
    err.status = r.status;
    throw err;
  }
  return r.json();
}

// ---------------------------------------------------------------- polling
async function refresh() {
  const params = { window_s: $("window").value, site: $("site").value, fiber: $("fiber").value };
  try {
    const [ov, wf] = await Promise.all([getJSON("live/overview", params), getJSON("live/waterfall", params)]);
    state.overview = ov;
    state.waterfall = wf;
    fillSelect($("site"), ov.sites || []);
    fillSelect($("fiber"), ov.fibers || []);
    renderAll();
    setStatus("updated " + new Date().toISOString().slice(11, 19) + " UTC", "ok");
  } catch (e) {
    setStatus(e.status === 401 || e.status === 403 ? "API key refused" : String(e.message || e), "err");
  }
}

function fillSelect(sel, values, noAll) {
  const cur = sel.value;
  const want = (noAll ? [] : [""]).concat(values);
  const have = Array.from(sel.options).map((o) => o.value);
  if (want.join("|") === have.join("|")) return;
  sel.innerHTML = "";
  for (const v of want) {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = v === "" ? "all" : v;
    sel.appendChild(o);
  }
  if (want.includes(cur)) sel.value = cur;
}

function renderAll() {
  const ov = state.overview;
  if (!ov) return;
  const st = ov.stats || {};
  $("veh-total").textContent = st.total ?? 0;
  $("veh-pos").textContent = st.pos ?? 0;
  $("veh-neg").textContent = st.neg ?? 0;
  $("speed-mean").textContent = st.mean_speed_kmh == null ? "-" : st.mean_speed_kmh.toFixed(1);
  $("speed-p85").textContent = st.p85_speed_kmh == null ? "-" : st.p85_speed_kmh.toFixed(1);
  $("eq-total").textContent = (ov.events || []).length;
  drawWaterfall();
  drawCounts();
  drawHist();
  renderEvents();
  for (const a of ov.alerts || []) addAlert(a, false);
}

// ---------------------------------------------------------------- waterfall
function decodeChunk(c) {
  if (!c._pixels) {
    const bin = atob(c.data_b64);
    const u8 = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    c._pixels = u8;
  }
  return c._pixels;
}

function seismic(v) {
  // diverging blue-white-red colour map over 0..255 (128 = 0)
  const t = (v - 128) / 127;
  if (t < 0) { const a = -t; return [Math.round(255 * (1 - a)), Math.round(255 * (1 - a)), 255]; }
  return [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))];
}

function drawWaterfall() {
  const cv = $("waterfall");
  const ctx = cv.getContext("2d");
  const W = cv.width, H = cv.height, L = 60, B = 24, T = 6, R = 8;
  const pw = W - L - R, ph = H - T - B;
  ctx.fillStyle = "#0b0e12";
  ctx.fillRect(0, 0, W, H);
  const ov = state.overview;
  const wf = state.waterfall;
  const fiber = $("fiber").value;
  const t1 = ov.end_ms;
  let t0 = ov.end_ms - 1000 * ov.window_s;
  // distance range: waterfall chunks, else vehicles/picks
  let x0 = Infinity, x1 = -Infinity;
  const chunks = (wf && wf.chunks) || [];
  for (const c of chunks) { x0 = Math.min(x0, c.x0_m); x1 = Math.max(x1, c.x0_m + c.dx_m * (c.nx - 1)); }
  const vehicles = (ov.vehicles || []).filter((v) => !fiber || v.fiber_id === fiber);
  const picks = (ov.picks || []).filter((p) => !fiber || p.fiber_id === fiber);
  if (!isFinite(x0)) {
    for (const v of vehicles) { x0 = Math.min(x0, v.x_start_m, v.x_end_m); x1 = Math.max(x1, v.x_start_m, v.x_end_m); }
    for (const p of picks) { x0 = Math.min(x0, p.distance_m); x1 = Math.max(x1, p.distance_m); }
  }
  if (!isFinite(x0) || x1 <= x0) { x0 = 0; x1 = 1000; }
  // time axis: the window, shortened to where data starts (a replayed scene shorter than the window)
  let tmin = Infinity;
  for (const c of chunks) tmin = Math.min(tmin, c.t0_ms);
  for (const v of vehicles) tmin = Math.min(tmin, v.t_start_ms);
  for (const p of picks) tmin = Math.min(tmin, p.t_ms);
  if (isFinite(tmin) && tmin > t0 && tmin < t1) t0 = tmin - 0.02 * (t1 - tmin);
  const X = (x) => L + ((x - x0) / (x1 - x0)) * pw;
  const Y = (t) => T + ((t - t0) / (t1 - t0)) * ph;

  // image: each chunk is nt x nx uint8, time down, distance across
  for (const c of chunks) {
    const px = decodeChunk(c);
    const img = ctx.createImageData(c.nx, c.nt);
    for (let i = 0; i < c.nt * c.nx; i++) {
      const [r, g, b] = seismic(px[i]);
      img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
    }
    const tmp = document.createElement("canvas");
    tmp.width = c.nx; tmp.height = c.nt;
    tmp.getContext("2d").putImageData(img, 0, 0);
    const ya = Y(c.t0_ms), yb = Y(c.t0_ms + 1000 * c.dt_s * c.nt);
    const xa = X(c.x0_m), xb = X(c.x0_m + c.dx_m * c.nx);
    ctx.save();
    ctx.beginPath(); ctx.rect(L, T, pw, ph); ctx.clip();
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(tmp, xa, ya, xb - xa, yb - ya);
    ctx.restore();
  }
  // vehicle lines and picks
  ctx.save();
  ctx.beginPath(); ctx.rect(L, T, pw, ph); ctx.clip();
  ctx.lineWidth = 1.5;
  ctx.globalAlpha = 0.75;
  let nl = 0;
  for (const v of vehicles) {
    ctx.strokeStyle = v.direction >= 0 ? COLORS.pos : COLORS.neg;
    ctx.beginPath();
    ctx.moveTo(X(v.x_start_m), Y(v.t_start_ms));
    ctx.lineTo(X(v.x_end_m), Y(v.t_end_ms));
    ctx.stroke();
    nl++;
  }
  ctx.globalAlpha = 1.0;
  let np = 0;
  for (const p of picks) {
    ctx.fillStyle = COLORS[p.phase] || "#fff";
    ctx.beginPath();
    ctx.arc(X(p.distance_m), Y(p.t_ms), 2.5, 0, 2 * Math.PI);
    ctx.fill();
    np++;
  }
  ctx.restore();
  cv.dataset.lines = String(nl);
  cv.dataset.picks = String(np);
  // axes
  ctx.strokeStyle = "#3a4656";
  ctx.strokeRect(L, T, pw, ph);
  ctx.fillStyle = "#9aa7b6";
  ctx.font = "11px sans-serif";
  ctx.textAlign = "center";
  for (let i = 0; i <= 5; i++) {
    const x = x0 + ((x1 - x0) * i) / 5;
    ctx.fillText(x.toFixed(0) + " m", X(x), H - 8);
  }
  ctx.textAlign = "right";
  for (let i = 0; i <= 4; i++) {
    const t = t0 + ((t1 - t0) * i) / 4;
    ctx.fillText(new Date(t).toISOString().slice(11, 19), L - 4, Y(t) + 4);
  }
  $("wf-info").textContent = `${chunks.length} chunk(s), ${nl} vehicle line(s), ${np} pick(s)`;
}

// ---------------------------------------------------------------- charts
function axes(ctx, W, H, L, B) {
  ctx.fillStyle = "#0b0e12";
  ctx.fillRect(0, 0, W, H);
  ctx.strokeStyle = "#3a4656";
  ctx.strokeRect(L, 4, W - L - 4, H - B - 4);
}

function drawCounts() {
  const cv = $("counts"), ctx = cv.getContext("2d");
  const W = cv.width, H = cv.height, L = 34, B = 18;
  axes(ctx, W, H, L, B);
  const c = state.overview.counts;
  if (!c || !c.t_ms.length) return;
  const n = c.t_ms.length, pw = W - L - 4, ph = H - B - 8;
  const maxc = Math.max(1, ...c.pos.map((p, i) => p + c.neg[i]));
  const bw = pw / n;
  for (let i = 0; i < n; i++) {
    const hp = (c.pos[i] / maxc) * ph, hn = (c.neg[i] / maxc) * ph;
    ctx.fillStyle = COLORS.pos;
    ctx.fillRect(L + i * bw + 1, 4 + ph - hp, Math.max(1, bw - 2), hp);
    ctx.fillStyle = COLORS.neg;
    ctx.fillRect(L + i * bw + 1, 4 + ph - hp - hn, Math.max(1, bw - 2), hn);
  }
  // mean speed line (right scale 0..max)
  const sp = c.mean_speed_kmh;
  const maxs = Math.max(10, ...sp.filter((s) => s != null));
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let started = false;
  for (let i = 0; i < n; i++) {
    if (sp[i] == null) continue;
    const x = L + (i + 0.5) * bw, y = 4 + ph - (sp[i] / maxs) * ph;
    if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
  }
  ctx.stroke();
  ctx.fillStyle = "#9aa7b6";
  ctx.font = "10px sans-serif";
  ctx.fillText(String(maxc), 4, 14);
  ctx.fillText(maxs.toFixed(0) + " km/h", W - 60, 14);
  ctx.fillText(new Date(c.t_ms[0]).toISOString().slice(11, 16), L, H - 4);
  ctx.fillText(new Date(c.t_ms[n - 1]).toISOString().slice(11, 16), W - 40, H - 4);
}

function drawHist() {
  const cv = $("hist"), ctx = cv.getContext("2d");
  const W = cv.width, H = cv.height, L = 34, B = 18;
  axes(ctx, W, H, L, B);
  const h = state.overview.speed_hist;
  if (!h || !h.counts.length) return;
  const n = h.counts.length, pw = W - L - 4, ph = H - B - 8;
  const maxc = Math.max(1, ...h.counts);
  const bw = pw / n;
  ctx.fillStyle = "#8fb8ff";
  for (let i = 0; i < n; i++) {
    const hh = (h.counts[i] / maxc) * ph;
    ctx.fillRect(L + i * bw + 1, 4 + ph - hh, Math.max(1, bw - 2), hh);
  }
  ctx.fillStyle = "#9aa7b6";
  ctx.font = "10px sans-serif";
  ctx.fillText(String(maxc), 4, 14);
  for (let i = 0; i <= n; i += Math.max(1, Math.floor(n / 6))) ctx.fillText(String(h.edges[i]), L + i * bw - 6, H - 4);
}

// ---------------------------------------------------------------- events and alerts
function renderEvents() {
  const tb = document.querySelector("#events tbody");
  tb.innerHTML = "";
  for (const e of state.overview.events || []) {
    const tr = document.createElement("tr");
    tr.className = "event";
    tr.dataset.id = e.id;
    const cells = [
      (e.time || "").replace("T", " ").slice(0, 23),
      e.magnitude == null ? "-" : e.magnitude.toFixed(1),
      e.depth_km == null ? "-" : e.depth_km.toFixed(1),
      String(e.picks.length),
      `${e.status} v${e.version}`,
    ];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
    tb.appendChild(tr);
    if (e.picks.length) {
      const pr = document.createElement("tr");
      pr.className = "picks";
      const td = document.createElement("td");
      td.colSpan = 5;
      td.textContent = e.picks.slice(0, 12).map((p) => `${p.phase}@ch${p.channel} ${(p.time || "").slice(11, 23)}`).join("  ")
        + (e.picks.length > 12 ? ` ... (+${e.picks.length - 12})` : "");
      pr.appendChild(td);
      tb.appendChild(pr);
    }
  }
}

function alertText(a) {
  // a = service.alerts.alert_json: {seq, kind, id, version, message_type, sent, event: {magnitude, time, ...}}
  const ev = a.event || {};
  const mag = ev.magnitude != null ? ` M${Number(ev.magnitude).toFixed(1)}` : "";
  const site = ev.site_id ? ` [${ev.site_id}]` : "";
  const when = (a.sent || "").replace("T", " ").slice(0, 19);
  return `${when} ${a.kind || "alert"} ${a.message_type || ""}${mag} ${a.id || ""} v${a.version ?? ""}${site}`.replace(/\s+/g, " ").trim();
}

function addAlert(a, live) {
  const seq = a.seq != null ? String(a.seq) : JSON.stringify(a);
  if (state.alerts.has(seq)) return;
  state.alerts.set(seq, a);
  const li = document.createElement("li");
  li.dataset.seq = seq;
  li.textContent = alertText(a);
  if (live) li.className = "new";
  const ul = $("alerts");
  // newest first by seq
  const n = Number(seq);
  let before = null;
  for (const el of ul.children) { if (Number(el.dataset.seq) < n) { before = el; break; } }
  ul.insertBefore(li, before);
  while (ul.children.length > 100) ul.removeChild(ul.lastChild);
}

async function streamAlerts() {
  if (state.sseAbort) state.sseAbort.abort();
  const ctrl = new AbortController();
  state.sseAbort = ctrl;
  const conn = $("alert-conn");
  for (;;) {
    if (ctrl.signal.aborted) return;
    try {
      const headers = { "X-API-Key": state.key, Accept: "text/event-stream" };
      if (state.lastAlertSeq != null) headers["Last-Event-ID"] = state.lastAlertSeq;
      const r = await fetch(API + "alerts/stream", { headers, signal: ctrl.signal });
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      conn.textContent = "(live)";
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(buf[i] === "\r" ? i + 4 : i + 2);
          handleSSE(raw);
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
      conn.textContent = "(reconnecting: " + (e.message || e) + ")";
    }
    await new Promise((res) => setTimeout(res, 3000));
  }
}

function handleSSE(raw) {
  let id = null, data = [];
  for (const line of raw.split(/\r?\n/)) {
    if (line.startsWith(":")) continue;
    const k = line.indexOf(":");
    const f = k < 0 ? line : line.slice(0, k);
    let v = k < 0 ? "" : line.slice(k + 1);
    if (v.startsWith(" ")) v = v.slice(1);
    if (f === "id") id = v;
    else if (f === "data") data.push(v);
  }
  if (!data.length) return;
  let a;
  try { a = JSON.parse(data.join("\n")); } catch (e) { a = { headline: data.join("\n") }; }
  if (id != null) { state.lastAlertSeq = id; if (a.seq == null) a.seq = Number(id); }
  addAlert(a, true);
}

// ---------------------------------------------------------------- start
function connect() {
  state.key = $("apikey").value.trim();
  try { localStorage.setItem("dasedge-key", state.key); } catch (e) { /* private mode */ }
  if (state.timer) clearInterval(state.timer);
  refresh();
  state.timer = setInterval(refresh, POLL_MS);
  streamAlerts();
}

function keyFromHash() {
  const m = /key=([^&]+)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : "";
}

window.addEventListener("DOMContentLoaded", () => {
  let key = keyFromHash();
  if (!key) { try { key = localStorage.getItem("dasedge-key") || ""; } catch (e) { key = ""; } }
  $("apikey").value = key;
  $("connect").addEventListener("click", connect);
  for (const id of ["site", "fiber", "window"]) $(id).addEventListener("change", refresh);
  if (key) connect();
});

window.addEventListener("hashchange", () => {
  const key = keyFromHash();
  if (key) { $("apikey").value = key; connect(); }
});
