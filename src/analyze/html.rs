//! The `--html` report: one self-contained file (no network loads). The numbers are
//! embedded as JSON in a `<script type="application/json">` block with `<`, `>` and
//! `&` escaped, and the page's own script draws the SVG charts and tables with DOM
//! calls (`textContent`, never markup from data), so hostile key names stay text.
//! When every chart has been drawn the script sets `data-rendered="ok"` on `<body>`
//! (and records any script error in `data-render-error`): the test checks that marker
//! in headless Chromium.

use serde_json::{json, Value};

use crate::analyze::report::{human_bytes, FileReport, KeyRow};
use crate::error::display_key;

fn key_rows(rows: &[KeyRow]) -> Value {
    rows.iter()
        .map(|k| {
            json!({
                "key": display_key(&k.key.0),
                "db": k.db,
                "type": k.kind.name(),
                "encoding": k.encoding,
                "elements": k.elements,
                "memory": k.memory,
                "memory_h": human_bytes(k.memory),
                "expire_at_ms": k.expire_at_ms,
            })
        })
        .collect()
}

/// The page's data: what the script draws.
fn data(main: &FileReport, files: &[&FileReport]) -> Value {
    let s = &main.stats;
    let sep = display_key(&s.prefixes.separator.0);
    json!({
        "title": main.path,
        "files": files.iter().map(|f| json!({
            "path": f.path,
            "bytes": f.bytes,
            "producer": f.producer,
            "status": f.status,
            "error": f.error,
            "keys": f.stats.totals.keys,
            "memory": f.stats.totals.memory,
        })).collect::<Vec<_>>(),
        "totals": s.totals,
        "types": s.types.iter().map(|t| json!({
            "type": t.kind.name(),
            "keys": t.counts.keys,
            "memory": t.counts.memory,
        })).collect::<Vec<_>>(),
        "prefixes": s.prefixes.top.iter().map(|p| json!({
            "prefix": display_key(&p.prefix.0),
            "depth": p.depth,
            "keys": p.keys,
            "memory": p.memory,
            "memory_error": p.memory_error,
        })).collect::<Vec<_>>(),
        "separator": sep,
        "prefixes_exact": s.prefixes.exact,
        "unprefixed_memory": s.prefixes.unprefixed_memory,
        "ttl": s.ttl,
        "top_memory": key_rows(&s.top_by_memory),
        "top_elements": key_rows(&s.top_by_elements),
        "big_keys": s.big_keys.count,
    })
}

/// JSON safe inside a `<script>` element: no `</script>`, no `<!--`, no entities.
fn script_safe(v: &Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

/// Text for the `<title>` element (escaped for HTML).
fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole page. `main` is the aggregate (or the only file); `files` lists every file.
pub fn render(main: &FileReport, files: &[&FileReport]) -> String {
    let mut page = String::with_capacity(32 << 10);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    page.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n");
    page.push_str(&format!(
        "<title>rdbkit stats: {}</title>\n<style>{STYLE}</style></head>\n<body>\n",
        escape_text(&main.path)
    ));
    page.push_str(BODY);
    page.push_str("<script type=\"application/json\" id=\"rdbkit-data\">");
    page.push_str(&script_safe(&data(main, files)));
    page.push_str("</script>\n<script>");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body></html>\n");
    page
}

const STYLE: &str = r##"
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:24px 32px;color:#1d2330;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:0 0 12px}
.sub{color:#5b6475;margin-bottom:20px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:20px}
.card{background:#fff;border-radius:8px;padding:12px 16px;min-width:140px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .v{font-size:20px;font-weight:600} .card .l{color:#5b6475;font-size:12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.panel{background:#fff;border-radius:8px;padding:16px;box-shadow:0 1px 2px rgba(0,0,0,.08);overflow:hidden}
.wide{grid-column:1 / span 2}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
td.key{font-family:ui-monospace,Menlo,Consolas,monospace;max-width:420px;overflow:hidden;text-overflow:ellipsis}
.err{color:#b42318} .note{color:#5b6475;font-size:12px;margin-top:8px}
svg text{font-size:12px;fill:#1d2330}
"##;

const BODY: &str = r##"<h1>rdbkit stats</h1>
<div class="sub" id="subtitle"></div>
<div class="cards" id="cards"></div>
<div class="grid">
<div class="panel"><h2>Memory by type</h2><div id="chart-types"></div></div>
<div class="panel"><h2>Keys by TTL</h2><div id="chart-ttl"></div></div>
<div class="panel wide"><h2>Memory by key prefix</h2><div id="chart-prefixes"></div><div class="note" id="prefix-note"></div></div>
<div class="panel wide"><h2>Biggest keys by estimated memory</h2><div id="table-top-memory"></div></div>
<div class="panel wide"><h2>Biggest keys by elements (strings: bytes)</h2><div id="table-top-elements"></div></div>
<div class="panel wide"><h2>Files</h2><div id="table-files"></div></div>
</div>
"##;

/// Draws everything from the embedded JSON. Written for this page; no libraries.
const SCRIPT: &str = r##"
(function () {
"use strict";
var NS = "http://www.w3.org/2000/svg";
window.addEventListener("error", function (e) {
  document.body.setAttribute("data-render-error", String(e.message));
});
function el(tag, attrs, text) {
  var e = document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function sv(tag, attrs, text) {
  var e = document.createElementNS(NS, tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function bytes(n) {
  var u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
}
function num(n) { return Number(n).toLocaleString("en-US"); }
var COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

function bars(target, items, label, value, fmt) {
  var w = 520, row = 26, left = 110, h = Math.max(1, items.length) * row + 8;
  var max = Math.max.apply(null, items.map(value).concat([1]));
  var svg = sv("svg", {width: "100%", viewBox: "0 0 " + w + " " + h, role: "img"});
  items.forEach(function (it, i) {
    var y = 4 + i * row, bw = (w - left - 110) * value(it) / max;
    svg.appendChild(sv("text", {x: left - 8, y: y + 16, "text-anchor": "end"}, label(it)));
    var r = sv("rect", {x: left, y: y + 3, width: Math.max(1, bw), height: row - 8, rx: 3, fill: COLORS[i % COLORS.length]});
    r.appendChild(sv("title", {}, label(it) + ": " + fmt(value(it))));
    svg.appendChild(r);
    svg.appendChild(sv("text", {x: left + bw + 6, y: y + 16}, fmt(value(it))));
  });
  target.appendChild(svg);
  return svg;
}

function columns(target, items) {
  var w = 520, h = 220, base = 180, gap = 14, n = items.length;
  var bw = (w - gap * (n + 1)) / n;
  var max = Math.max.apply(null, items.map(function (d) { return d[1]; }).concat([1]));
  var svg = sv("svg", {width: "100%", viewBox: "0 0 " + w + " " + h, role: "img"});
  items.forEach(function (d, i) {
    var x = gap + i * (bw + gap), bh = (base - 20) * d[1] / max;
    var r = sv("rect", {x: x, y: base - bh, width: bw, height: Math.max(1, bh), rx: 3, fill: COLORS[i % COLORS.length]});
    r.appendChild(sv("title", {}, d[0] + ": " + num(d[1])));
    svg.appendChild(r);
    svg.appendChild(sv("text", {x: x + bw / 2, y: base - bh - 4, "text-anchor": "middle"}, num(d[1])));
    svg.appendChild(sv("text", {x: x + bw / 2, y: base + 18, "text-anchor": "middle"}, d[0]));
  });
  target.appendChild(svg);
  return svg;
}

// Treemap: split the items (sorted by size) into two groups of similar weight and
// cut the rectangle along its longer side, recursively.
function layout(items, x, y, w, h, out) {
  if (!items.length) return;
  if (items.length === 1) { out.push({it: items[0], x: x, y: y, w: w, h: h}); return; }
  var total = 0, half = 0, i = 0;
  items.forEach(function (d) { total += d.v; });
  while (i < items.length - 1 && (half + items[i].v) * 2 <= total) { half += items[i].v; i++; }
  if (i === 0) { half = items[0].v; i = 1; }
  var f = total > 0 ? half / total : 0.5;
  if (w >= h) {
    layout(items.slice(0, i), x, y, w * f, h, out);
    layout(items.slice(i), x + w * f, y, w * (1 - f), h, out);
  } else {
    layout(items.slice(0, i), x, y, w, h * f, out);
    layout(items.slice(i), x, y + h * f, w, h * (1 - f), out);
  }
}

function treemap(target, data) {
  var W = 1000, H = 420;
  var svg = sv("svg", {width: "100%", viewBox: "0 0 " + W + " " + H, role: "img"});
  var tops = data.prefixes.filter(function (p) { return p.depth === 1; }).slice(0, 40);
  var items = tops.map(function (p) { return {v: p.memory, p: p}; });
  if (data.unprefixed_memory > 0) items.push({v: data.unprefixed_memory, p: {prefix: "(no separator)", memory: data.unprefixed_memory, depth: 0}});
  items.sort(function (a, b) { return b.v - a.v; });
  var cells = [];
  layout(items, 0, 0, W, H, cells);
  cells.forEach(function (c, i) {
    var color = COLORS[i % COLORS.length];
    var g = sv("g", {});
    g.appendChild(sv("rect", {x: c.x + 1, y: c.y + 1, width: Math.max(0, c.w - 2), height: Math.max(0, c.h - 2), fill: color, "fill-opacity": 0.35, stroke: color}));
    // children: depth-2 prefixes under this one
    var pre = c.it.p.prefix + data.separator;
    var kids = c.it.p.depth === 1 ? data.prefixes.filter(function (p) {
      return p.depth === 2 && p.prefix.lastIndexOf(pre, 0) === 0;
    }).slice(0, 30) : [];
    if (kids.length && c.w > 60 && c.h > 50) {
      var sub = [];
      layout(kids.map(function (k) { return {v: k.memory, p: k}; }), c.x + 4, c.y + 22, c.w - 8, c.h - 26, sub);
      sub.forEach(function (s) {
        var r = sv("rect", {x: s.x + 1, y: s.y + 1, width: Math.max(0, s.w - 2), height: Math.max(0, s.h - 2), fill: color, "fill-opacity": 0.55});
        r.appendChild(sv("title", {}, s.it.p.prefix + data.separator + "*: " + bytes(s.it.p.memory) + ", " + num(s.it.p.keys) + " keys"));
        g.appendChild(r);
        if (s.w > 70 && s.h > 16) g.appendChild(sv("text", {x: s.x + 5, y: s.y + 14}, s.it.p.prefix.slice(pre.length, pre.length + Math.floor(s.w / 7))));
      });
    }
    var t = sv("title", {}, (c.it.p.depth ? c.it.p.prefix + data.separator + "*" : c.it.p.prefix) + ": " + bytes(c.it.p.memory));
    g.firstChild.appendChild(t);
    if (c.w > 50 && c.h > 16) {
      var name = c.it.p.depth ? c.it.p.prefix + data.separator + "*" : c.it.p.prefix;
      g.appendChild(sv("text", {x: c.x + 5, y: c.y + 15, "font-weight": "600"}, (name + " " + bytes(c.it.p.memory)).slice(0, Math.floor(c.w / 7))));
    }
    svg.appendChild(g);
  });
  if (!cells.length) svg.appendChild(sv("text", {x: 10, y: 20}, "no keys"));
  target.appendChild(svg);
  return svg;
}

function table(target, head, rows, keyCol) {
  var t = el("table"), tr = el("tr");
  head.forEach(function (h) { tr.appendChild(el("th", {}, h)); });
  t.appendChild(tr);
  rows.forEach(function (r) {
    var row = el("tr");
    r.forEach(function (c, i) { row.appendChild(el("td", i === keyCol ? {"class": "key", title: String(c)} : {}, c)); });
    t.appendChild(row);
  });
  target.appendChild(t);
  return t;
}

function keyTable(id, rows) {
  return table(document.getElementById(id), ["key", "db", "type", "encoding", "elements", "memory"],
    rows.map(function (k) { return [k.key, k.db, k.type, k.encoding, num(k.elements), k.memory_h]; }), 0);
}

var data = JSON.parse(document.getElementById("rdbkit-data").textContent);
var T = data.totals;
document.getElementById("subtitle").textContent = data.title + " \u2014 " + data.files.length + " file(s)";
[["keys", num(T.keys)], ["estimated memory", bytes(T.memory)], ["serialized", bytes(T.serialized_bytes)],
 ["with TTL", num(T.expires)], ["already expired", num(T.already_expired)], ["big keys", num(data.big_keys)]]
  .forEach(function (c) {
    var d = el("div", {"class": "card"});
    d.appendChild(el("div", {"class": "v"}, c[1]));
    d.appendChild(el("div", {"class": "l"}, c[0]));
    document.getElementById("cards").appendChild(d);
  });
var drawn = [];
drawn.push(bars(document.getElementById("chart-types"), data.types.slice().sort(function (a, b) { return b.memory - a.memory; }),
  function (t) { return t.type; }, function (t) { return t.memory; }, bytes));
var ttlOrder = [["no TTL", "no_ttl"], ["expired", "expired"], ["< 1 h", "lt_1h"], ["< 1 d", "lt_1d"], ["< 7 d", "lt_7d"], ["later", "later"]];
drawn.push(columns(document.getElementById("chart-ttl"), ttlOrder.map(function (o) { return [o[0], data.ttl[o[1]] || 0]; })));
drawn.push(treemap(document.getElementById("chart-prefixes"), data));
document.getElementById("prefix-note").textContent = data.prefixes_exact
  ? "Exact: every distinct prefix was tracked."
  : "Approximate (more distinct prefixes than tracked): sizes are upper bounds, see memory_error in the JSON report.";
drawn.push(keyTable("table-top-memory", data.top_memory));
drawn.push(keyTable("table-top-elements", data.top_elements));
drawn.push(table(document.getElementById("table-files"), ["file", "status", "keys", "memory", "error"],
  data.files.map(function (f) { return [f.path, f.status, num(f.keys), bytes(f.memory), f.error || ""]; }), -1));
if (drawn.length === 6 && drawn.every(function (d) { return d && d.isConnected; }) && !document.body.hasAttribute("data-render-error")) {
  document.body.setAttribute("data-rendered", "ok");
}
})();
"##;
