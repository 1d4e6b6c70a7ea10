// ddmm dashboard: polls GET /api/state about once a second and draws the operator's
// picture. No framework, no external request: text goes in with textContent only, the
// charts are drawn on <canvas> by hand, and the history lives in this page (last N
// minutes, `?minutes=` to change).
"use strict";

const POLL_MS = 1000;
const TIMEOUT_MS = 3000;
const WINDOW_MS = (Number(new URLSearchParams(location.search).get("minutes")) || 15) * 60000;
const ON_BOOK = new Set(["open", "partially_filled", "cancelling"]);

const history = [];
let lastOk = 0;

const $ = (id) => document.getElementById(id);
const num = (text) => (text === null || text === undefined || text === "" ? null : Number(text));

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function setText(id, text, cls) {
  const node = $(id);
  node.textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  if (cls !== undefined) node.className = cls;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

// ---- polling --------------------------------------------------------------------------

async function poll() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  try {
    const answer = await fetch("/api/state", { cache: "no-store", signal: abort.signal });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    const doc = await answer.json();
    lastOk = Date.now();
    record(doc);
    render(doc);
    const conn = $("conn");
    conn.textContent = `updated ${clock(doc.ts_ms || lastOk)}`;
    conn.className = "";
  } catch (err) {
    const conn = $("conn");
    const since = lastOk ? ` (last data ${Math.round((Date.now() - lastOk) / 1000)} s ago)` : "";
    conn.textContent = `ops endpoint unreachable: ${err.message || err}${since}`;
    conn.className = "down";
  } finally {
    clearTimeout(timer);
    setTimeout(poll, POLL_MS);
  }
}

// ---- history for the charts -----------------------------------------------------------

function bestOrder(orders, side) {
  const prices = orders.filter((o) => o.side === side && ON_BOOK.has(o.state)).map((o) => Number(o.price));
  if (!prices.length) return null;
  return side === "buy" ? Math.max(...prices) : Math.min(...prices);
}

function record(doc) {
  const s = doc.status || {};
  const book = doc.book || {};
  const orders = doc.orders || [];
  history.push({
    t: doc.ts_ms || Date.now(),
    bid: num(book.bid ?? s.bid), ask: num(book.ask ?? s.ask), mid: num(book.mid),
    ourBid: bestOrder(orders, "buy"), ourAsk: bestOrder(orders, "sell"),
    position: num(s.session_position_ada), net: num(s.net_position_ada),
    pnl: num(s.today_pnl_usdm),
  });
  const oldest = history[history.length - 1].t - WINDOW_MS;
  while (history.length && history[0].t < oldest) history.shift();
}

const CHARTS = {
  price: { canvas: "chart-price", legend: "legend-price", digits: 4, series: [
    { key: "ask", label: "reference ask", color: "--ask" },
    { key: "mid", label: "reference mid", color: "--mid", dash: [4, 3] },
    { key: "bid", label: "reference bid", color: "--bid" },
    { key: "ourAsk", label: "our best ask", color: "--ours-ask", width: 2 },
    { key: "ourBid", label: "our best bid", color: "--ours-bid", width: 2 },
  ] },
  inventory: { canvas: "chart-inventory", legend: "legend-inventory", digits: 2, series: [
    { key: "position", label: "DeltaDeFi position", color: "--ours-bid", width: 2 },
    { key: "net", label: "net incl. hedge", color: "--net", width: 2 },
  ] },
  pnl: { canvas: "chart-pnl", legend: "legend-pnl", digits: 2, zero: true, series: [
    { key: "pnl", label: "today's PnL", color: "--ours-ask", width: 2 },
  ] },
};

function drawAll() {
  for (const chart of Object.values(CHARTS)) draw(chart);
}

// One chart: every series that has a value in the window, on a shared y scale; a gap
// where a series has no value. data-points on the canvas counts the drawn points.
function draw(chart) {
  const canvas = $(chart.canvas);
  const style = getComputedStyle(document.documentElement);
  const colour = (name) => style.getPropertyValue(name).trim() || "#888";
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const shown = chart.series.filter((s) => history.some((h) => h[s.key] !== null && !Number.isNaN(h[s.key])));
  const values = shown.flatMap((s) => history.map((h) => h[s.key])).filter((v) => v !== null && !Number.isNaN(v));
  if (chart.zero && values.length) values.push(0);
  legend(chart, shown, colour);
  if (!values.length) {
    canvas.dataset.points = "0";
    ctx.fillStyle = colour("--muted");
    ctx.font = "13px system-ui, sans-serif";
    ctx.fillText("waiting for data…", 12, height / 2);
    return;
  }
  let low = Math.min(...values), high = Math.max(...values);
  if (high - low < 1e-12) { const pad = Math.abs(high) * 1e-3 || 1; low -= pad; high += pad; }
  const t0 = history[0].t, t1 = history[history.length - 1].t;
  const left = 64, right = 8, top = 8, bottom = 20;
  const x = (t) => left + ((t - t0) / (t1 - t0 || 1)) * (width - left - right);
  const y = (v) => top + ((high - v) / (high - low)) * (height - top - bottom);

  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  ctx.strokeStyle = colour("--line");
  ctx.fillStyle = colour("--muted");
  for (let i = 0; i <= 4; i++) {
    const v = low + ((high - low) * i) / 4;
    ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(width - right, y(v)); ctx.stroke();
    ctx.fillText(v.toFixed(chart.digits), 4, y(v) + 4);
  }
  ctx.fillText(clock(t0), left, height - 5);
  const end = clock(t1);
  ctx.fillText(end, width - right - ctx.measureText(end).width, height - 5);

  let points = 0;
  for (const s of shown) {
    ctx.strokeStyle = colour(s.color);
    ctx.lineWidth = s.width || 1.25;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    let drawing = false;
    for (const h of history) {
      const v = h[s.key];
      if (v === null || Number.isNaN(v)) { drawing = false; continue; }
      if (drawing) ctx.lineTo(x(h.t), y(v)); else ctx.moveTo(x(h.t), y(v));
      drawing = true;
      points += 1;
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  canvas.dataset.points = String(points);
  const latest = history[history.length - 1];
  canvas.setAttribute("aria-label", shown.map((s) => `${s.label} ${fmt(latest[s.key], chart.digits)}`).join(", "));
}

function fmt(value, digits) {
  return value === null || value === undefined || Number.isNaN(value) ? "–" : value.toFixed(digits);
}

function legend(chart, shown, colour) {
  const list = $(chart.legend);
  list.replaceChildren(...shown.map((s) => {
    const item = el("li");
    const swatch = el("span");
    swatch.style.background = colour(s.color);
    item.append(swatch, s.label);
    return item;
  }));
}

// ---- text panels ----------------------------------------------------------------------

function render(doc) {
  const s = doc.status || {};
  const halts = s.halts || [];
  setText("mode", s.mode);
  setText("risk", s.risk, s.risk || "");
  setText("halts", halts.length ? halts.join(", ") : "none", halts.length ? "halted" : "");
  setText("feed-age", s.feed_age_s === undefined ? null : `${s.feed_age_s} s`, s.feed_stale ? "stale" : "");
  setText("ticks", s.ticks_per_s);
  setText("gamma", doc.ladder && doc.ladder.gamma);
  setText("hold", doc.ladder && (doc.ladder.hold_reason || "no"));
  renderSide("bids", "buy", doc, s);
  renderSide("asks", "sell", doc, s);
  renderAccount(s);
  renderHedging(s);
  renderRestarts(s.actor_restarts || {});
  renderFills(doc.fills || []);
  drawAll();
  const latest = history[history.length - 1];
  $("price-latest").textContent = latest.mid === null ? "" : `mid ${doc.book.mid}`;
  $("inv-latest").textContent = `${s.session_position_ada ?? "–"} ADA`;
  $("pnl-latest").textContent = `${s.today_pnl_usdm ?? "–"} USDM`;
}

function renderSide(table, side, doc, s) {
  const book = doc.book || {};
  const ladder = (doc.ladder && doc.ladder[table]) || [];
  const orders = (doc.orders || []).filter((o) => o.side === side);
  const refPrice = side === "buy" ? book.bid ?? s.bid : book.ask ?? s.ask;
  const refQty = side === "buy" ? book.bid_qty : book.ask_qty;
  const rows = [];
  const ref = el("tr", null, "ref");
  ref.append(el("td", "ref"), el("td", refPrice ?? "–"), el("td", refQty ?? "–"), el("td", "reference touch"));
  rows.push(ref);
  const layers = new Set([...ladder.map((l) => l.layer), ...orders.map((o) => o.layer)]);
  for (const layer of [...layers].sort((a, b) => a - b)) {
    const level = ladder.find((l) => l.layer === layer);
    const live = orders.filter((o) => o.layer === layer)
      .map((o) => `${o.price} × ${o.qty}${Number(o.filled) ? ` (filled ${o.filled})` : ""} ${o.state}`);
    const row = el("tr");
    row.append(el("td", layer), el("td", level ? level.price : "–"), el("td", level ? level.qty : "–"),
      el("td", live.length ? live.join("; ") : "none"));
    rows.push(row);
  }
  $(table).tBodies[0].replaceChildren(...rows);
  const open = side === "buy" ? s.open_bids : s.open_asks;
  setText(side === "buy" ? "bid-summary" : "ask-summary", `${open ?? 0} open, ${ladder.length} in ladder`);
}

function pairs(target, entries) {
  target.replaceChildren(...entries.flatMap(([label, value, bad]) => [el("dt", label), el("dd", value ?? "–", bad ? "bad" : "")]));
}

function renderAccount(s) {
  pairs($("account"), [
    ["ADA", s.ada], ["USDM", s.usdm], ["session position (ADA)", s.session_position_ada],
    ["session fills", s.session_fills], ["today's PnL (USDM)", s.today_pnl_usdm],
    ["today's realized (USDM)", s.today_realized_pnl_usdm], ["today's fills", s.today_fills],
    ["today's volume (USDM)", s.today_volume_usdm], ["today's fees (USDM)", s.today_fees_usdm],
    ["orders pending", s.orders_pending],
  ]);
}

function renderHedging(s) {
  const present = s.net_position_ada !== undefined || s.hedge_pending !== undefined;
  $("hedging-panel").hidden = !present;
  if (!present) return;
  pairs($("hedging"), [
    ["net position (ADA)", s.net_position_ada], ["hedged on Binance (ADA)", s.hedged_position_ada],
    ["unhedged (ADA)", s.hedge_unhedged_ada], ["in flight (ADA)", s.hedge_in_flight_ada],
    ["pending hedges", s.hedge_pending], ["hedges done", s.hedges_done],
    ["failing", s.hedge_failing ? "yes" : "no", s.hedge_failing],
    ["last error", s.hedge_last_error || "none", Boolean(s.hedge_last_error)],
  ]);
}

function renderRestarts(restarts) {
  const names = Object.keys(restarts).filter((name) => name.includes("/"));
  const total = names.reduce((sum, name) => sum + (restarts[name] || 0), 0);
  setText("restart-summary", `${names.length} actors, ${total} restarts`);
  pairs($("restarts"), names.map((name) => [name, restarts[name], restarts[name] > 0]));
}

function renderFills(fills) {
  const body = $("fills").tBodies[0];
  if (!fills.length) {
    const row = el("tr");
    const cell = el("td", "no fills yet", "empty");
    cell.colSpan = 5;
    row.append(cell);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...fills.map((f) => {
    const row = el("tr");
    const markouts = Object.entries(f.markout_bps || {}).map(([h, bps]) => `${h} ${bps}`).join(", ");
    row.append(el("td", clock(f.ts_ms)), el("td", f.side, f.side), el("td", f.price), el("td", f.qty),
      el("td", markouts || "pending"));
    return row;
  }));
}

window.addEventListener("resize", drawAll);
poll();
