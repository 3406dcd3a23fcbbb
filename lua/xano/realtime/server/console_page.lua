-- xano.realtime.server.console_page - the console's page: one HTML document
-- with its CSS and script inline (nothing from the network, no fonts), in
-- two modes: "login" (asks for the admin key) and "console".  The server
-- fills in {{NONCE}} (the Content-Security-Policy nonce of this response)
-- and {{MODE}}.  Everything a client sent is put on the page with
-- textContent, never as HTML.
local M = {}

M.html = [==[<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>xano-realtime-server console</title>
<style nonce="{{NONCE}}">
:root {
  --bg: #0f1419; --panel: #171e26; --line: #263241; --text: #d7e0ea; --dim: #8696a7;
  --accent: #4fb3ff; --ok: #4cd08a; --warn: #f2b84b; --bad: #ff6b6b; --violet: #b48cff;
  --mono: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
  --sans: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 13px/1.45 var(--sans); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 18px;
  border-bottom: 1px solid var(--line); background: #121920; flex-wrap: wrap; }
header h1 { font-size: 15px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header h1 span { color: var(--accent); }
.url { font-family: var(--mono); color: var(--dim); }
.chips { display: flex; gap: 8px; flex-wrap: wrap; margin-left: auto; }
.chip { background: var(--panel); border: 1px solid var(--line); border-radius: 999px;
  padding: 2px 10px; color: var(--dim); }
.chip b { color: var(--text); font-weight: 600; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  background: var(--bad); margin-right: 6px; vertical-align: 1px; }
.dot.live { background: var(--ok); }
main { display: grid; grid-template-columns: minmax(0, 1fr) 340px; gap: 14px; padding: 14px 18px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; min-width: 0; }
section h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .8px; color: var(--dim);
  margin: 0; padding: 9px 12px; border-bottom: 1px solid var(--line); display: flex;
  align-items: center; gap: 10px; }
section h2 .count { color: var(--text); }
.stack { display: flex; flex-direction: column; gap: 14px; min-width: 0; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 12px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--dim); font-weight: 500; font-size: 12px; }
tr:last-child td { border-bottom: 0; }
td.mono, .mono { font-family: var(--mono); font-size: 12px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: var(--dim); padding: 10px 12px; font-style: italic; }
.tag { display: inline-block; font-family: var(--mono); font-size: 11px; padding: 0 6px;
  border-radius: 4px; background: #1f2a36; border: 1px solid var(--line); margin: 1px 4px 1px 0; }
.tag.sub { border-color: #2f6f4f; color: var(--ok); }
.anon { color: var(--dim); font-style: italic; }
.scroll { max-height: 260px; overflow: auto; }
form { padding: 10px 12px 12px; border-bottom: 1px solid var(--line); display: grid; gap: 6px; }
form:last-child { border-bottom: 0; }
form h3 { margin: 0 0 2px; font-size: 13px; font-weight: 600; }
label { color: var(--dim); font-size: 12px; display: grid; gap: 3px; }
input, select, textarea, button { font: 12px var(--mono); color: var(--text); background: #0f151b;
  border: 1px solid var(--line); border-radius: 5px; padding: 5px 7px; }
form input, form select, form textarea { width: 100%; min-width: 0; }
textarea { min-height: 48px; resize: vertical; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 6px; }
button { font-family: var(--sans); cursor: pointer; background: #1d3b55; border-color: #2c5d86; }
button:hover { background: #24507a; }
button.danger { background: #4a2227; border-color: #7a3038; }
button.ghost { background: transparent; }
.result { font-family: var(--mono); font-size: 12px; min-height: 16px; color: var(--dim); }
.result.ok { color: var(--ok); } .result.bad { color: var(--bad); }
#actions { align-self: start; }
.tools { display: flex; gap: 8px; align-items: center; margin-left: auto; text-transform: none;
  letter-spacing: 0; }
.tools select, .tools button { padding: 3px 6px; }
#log { height: 340px; overflow: auto; font-family: var(--mono); font-size: 12px; padding: 4px 0; }
.line { display: grid; grid-template-columns: 96px 92px 130px 150px minmax(0, 1fr);
  gap: 10px; padding: 1px 12px; white-space: nowrap; }
.line:hover { background: #1b2430; }
.line > span { overflow: hidden; text-overflow: ellipsis; }
.t { color: var(--dim); }
.k { font-weight: 600; }
.k-join { color: var(--ok); } .k-leave { color: var(--warn); } .k-message { color: var(--accent); }
.k-private { color: var(--violet); } .k-event { color: #ff9f43; } .k-error, .k-refused { color: var(--bad); }
.k-closed { color: var(--dim); } .k-open { color: var(--ok); } .k-history { color: #7bdcb5; }
.dropped { color: var(--warn); }
.paused { color: var(--warn); font-weight: 600; }
.login { max-width: 380px; margin: 12vh auto; }
.login form { border: 0; }
.hidden { display: none !important; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body data-mode="{{MODE}}">

<div id="login-view" class="hidden">
  <section class="login">
    <h2>xano-realtime-server console</h2>
    <form id="login-form">
      <label>Admin key <input id="login-key" type="password" autocomplete="current-password" required></label>
      <button type="submit">Open the console</button>
      <div id="login-result" class="result"></div>
    </form>
  </section>
</div>

<div id="console-view" class="hidden">
<header>
  <h1><span>xano-realtime</span> server console</h1>
  <span class="url" id="server-url"></span>
  <div class="chips">
    <span class="chip"><span class="dot" id="live-dot"></span><b id="live-text">connecting</b></span>
    <span class="chip">sockets <b id="n-sockets">0</b></span>
    <span class="chip">channels <b id="n-channels">0</b></span>
    <span class="chip">messages <b id="n-messages">0</b></span>
    <span class="chip">frames in/out <b id="n-frames">0 / 0</b></span>
    <button class="ghost" id="logout" type="button">log out</button>
  </div>
</header>
<main>
  <div class="stack">
    <section>
      <h2>Sockets <span class="count" id="sockets-count">0</span></h2>
      <div class="scroll">
        <table id="sockets">
          <thead><tr><th>socketId</th><th>identity</th><th>connected</th><th>channels</th>
            <th class="num">in</th><th class="num">out</th></tr></thead>
          <tbody></tbody>
        </table>
        <div class="empty" id="sockets-empty">no socket is connected</div>
      </div>
    </section>
    <section>
      <h2>Channels <span class="count" id="channels-count">0</span></h2>
      <div class="scroll">
        <table id="channels">
          <thead><tr><th>name</th><th class="num">members</th><th>presence (as the server holds it)</th>
            <th class="num">history</th></tr></thead>
          <tbody></tbody>
        </table>
        <div class="empty" id="channels-empty">no channel has members or history</div>
      </div>
    </section>
    <section id="log-section">
      <h2>Log <span class="count" id="log-count">0</span>
        <span class="tools">
          <span class="dropped" id="dropped"></span>
          <span class="paused hidden" id="paused-note">paused: <span id="held">0</span> held</span>
          <select id="filter-channel"><option value="">every channel</option></select>
          <select id="filter-socket"><option value="">every socket</option></select>
          <button type="button" id="pause">Pause</button>
          <button type="button" class="ghost" id="clear">Clear</button>
        </span>
      </h2>
      <div id="log"></div>
    </section>
  </div>
  <section id="actions">
    <h2>Actions</h2>
    <form id="event-form">
      <h3>Send a server event</h3>
      <label>channel <input name="channel" list="channel-names" required></label>
      <label>data (JSON) <textarea name="data">{"hello": "from the console"}</textarea></label>
      <div class="row">
        <label>dbo_id <input name="dbo_id" inputmode="numeric" placeholder="0 = all"></label>
        <label>row_id <input name="row_id" placeholder="0 = all"></label>
      </div>
      <button type="submit">Send event</button>
      <div class="result" id="event-result"></div>
    </form>
    <form id="message-form">
      <h3>Send a message as the server</h3>
      <label>channel <input name="channel" list="channel-names" required></label>
      <label>payload (JSON) <textarea name="payload">"hello from the server"</textarea></label>
      <button type="submit">Send message</button>
      <div class="result" id="message-result"></div>
    </form>
    <form id="close-form">
      <h3>Close a socket</h3>
      <label>socket <select name="socketId" id="close-socket" required></select></label>
      <div class="row">
        <label>close code <input name="code" value="1012" list="close-codes" inputmode="numeric"></label>
        <label>reason <input name="reason" value="closed from the console" maxlength="123"></label>
      </div>
      <button type="submit" class="danger">Close socket</button>
      <div class="result" id="close-result"></div>
    </form>
    <datalist id="channel-names"></datalist>
    <datalist id="close-codes">
      <option value="1000">normal</option><option value="1001">going away</option>
      <option value="1011">server error</option><option value="1012">service restart</option>
      <option value="1013">try again later</option><option value="4000">application</option>
    </datalist>
  </section>
</main>
</div>

<script nonce="{{NONCE}}">
"use strict";
(function () {
  var MODE = document.body.getAttribute("data-mode");
  var KEEP = 2000, HOLD = 5000, PACE = 150;
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function list(x) { return Array.isArray(x) ? x : []; }
  function post(path, bodyText) {
    return fetch(path, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: bodyText });
  }
  function show(id, ok, text) {
    var r = $(id); r.className = "result " + (ok ? "ok" : "bad"); r.textContent = text;
  }
  function answer(id, res, okText) {
    return res.json().then(function (j) {
      if (res.ok) show(id, true, okText(j)); else show(id, false, res.status + ": " + (j.error || "failed"));
    }, function () { show(id, res.ok, String(res.status)); });
  }

  if (MODE !== "console") {
    $("login-view").classList.remove("hidden");
    $("login-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      post("/_console/login", JSON.stringify({ key: $("login-key").value })).then(function (res) {
        if (res.status === 204) location.reload();
        else show("login-result", false, res.status === 401 ? "wrong admin key" : "login failed: " + res.status);
      });
    });
    return;
  }
  $("console-view").classList.remove("hidden");

  // ------------------------------------------------------------ state
  function shortId(s) { s = String(s); return s.length > 12 ? s.slice(0, 12) + "…" : s; }
  function ago(since) {
    if (!since) return "";
    var s = Math.max(0, Math.round(Date.now() / 1000 - since));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s ago";
    return Math.floor(s / 3600) + "h " + Math.floor(s % 3600 / 60) + "m ago";
  }
  function identityCell(td, id) {
    if (!id) { td.appendChild(el("span", "anon", "anonymous")); return; }
    td.appendChild(el("span", "mono", "dbo_id " + id.dbo_id + " · row_id " + id.row_id));
    var extras = id.extras && typeof id.extras === "object" ? JSON.stringify(id.extras) : "";
    if (extras && extras !== "{}" && extras !== "[]") {
      td.appendChild(el("div", "mono t", extras.length > 80 ? extras.slice(0, 80) + "…" : extras));
    }
  }
  function fillSelect(sel, values, first) {
    var keep = sel.value;
    while (sel.options.length > (first ? 1 : 0)) sel.remove(first ? 1 : 0);
    values.forEach(function (v) { var o = el("option", null, v); o.value = v; sel.appendChild(o); });
    sel.value = values.indexOf(keep) >= 0 ? keep : (first ? "" : values[0] || "");
  }
  var lastState = null;
  function renderState(st) {
    lastState = st;
    var srv = st.server || {};
    $("server-url").textContent = srv.url || "";
    $("n-sockets").textContent = srv.sockets || 0;
    $("n-messages").textContent = srv.messages || 0;
    $("n-frames").textContent = (srv.frames_in || 0) + " / " + (srv.frames_out || 0);
    var socks = list(st.sockets), chans = list(st.channels);
    $("n-channels").textContent = chans.length;
    $("sockets-count").textContent = socks.length;
    $("channels-count").textContent = chans.length;

    var tb = $("sockets").tBodies[0];
    tb.textContent = "";
    socks.forEach(function (s) {
      var tr = el("tr"); tr.setAttribute("data-socket", s.socketId);
      var td = el("td", "mono sid", shortId(s.socketId)); td.title = s.socketId; tr.appendChild(td);
      td = el("td"); identityCell(td, s.identity); tr.appendChild(td);
      td = el("td", null, ago(s.since));
      if (s.since) td.title = new Date(s.since * 1000).toLocaleString();
      tr.appendChild(td);
      td = el("td", "chans");
      list(s.channels).forEach(function (c) { td.appendChild(el("span", "tag", c)); });
      tr.appendChild(td);
      tr.appendChild(el("td", "num", s.frames_in));
      tr.appendChild(el("td", "num", s.frames_out));
      tb.appendChild(tr);
    });
    $("sockets-empty").classList.toggle("hidden", socks.length > 0);

    tb = $("channels").tBodies[0];
    tb.textContent = "";
    chans.forEach(function (c) {
      var tr = el("tr"); tr.setAttribute("data-channel", c.name);
      tr.appendChild(el("td", "mono name", c.name));
      tr.appendChild(el("td", "num members", list(c.members).length));
      var td = el("td", "presence");
      var subs = {}; list(c.subscribers).forEach(function (s) { subs[s] = true; });
      if (!c.presence_enabled) td.appendChild(el("span", "anon", "presence off"));
      list(c.presence).forEach(function (p) {
        var perm = p.permissions || {};
        var t = el("span", "tag" + (subs[p.socketId] ? " sub" : ""),
          shortId(p.socketId) + (perm.dbo_id ? " " + perm.dbo_id + "/" + perm.row_id : ""));
        t.title = p.socketId + (subs[p.socketId] ? " (listens to presence)" : "");
        td.appendChild(t);
      });
      tr.appendChild(td);
      tr.appendChild(el("td", "num", c.history + (c.history_limit ? " / " + c.history_limit : "")));
      tb.appendChild(tr);
    });
    $("channels-empty").classList.toggle("hidden", chans.length > 0);

    var names = chans.map(function (c) { return c.name; });
    var dl = $("channel-names"); dl.textContent = "";
    names.forEach(function (n) { var o = el("option"); o.value = n; dl.appendChild(o); });
    fillSelect($("close-socket"), socks.map(function (s) { return s.socketId; }), false);
    names.forEach(function (n) { seenChannels[n] = true; });
    socks.forEach(function (s) { seenSockets[s.socketId] = true; });
    fillSelect($("filter-channel"), Object.keys(seenChannels).sort(), true);
    fillSelect($("filter-socket"), Object.keys(seenSockets).sort(), true);
  }

  // -------------------------------------------------------------- log
  var records = [], held = [], paused = false, heldDropped = 0;
  var seenChannels = {}, seenSockets = {};
  function pad(n, w) { n = String(n); while (n.length < w) n = "0" + n; return n; }
  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" + pad(d.getSeconds(), 2) +
      "." + pad(d.getMilliseconds(), 3);
  }
  function visible(r) {
    var c = $("filter-channel").value, s = $("filter-socket").value;
    return (!c || r.channel === c) && (!s || r.socket === s || r.to === s);
  }
  function lineOf(r) {
    var d = el("div", "line"); d.setAttribute("data-kind", r.kind);
    d.appendChild(el("span", "t", clock(r.t)));
    d.appendChild(el("span", "k k-" + r.kind, r.kind));
    d.appendChild(el("span", "c", r.channel || ""));
    var who = r.socket ? shortId(r.socket) : "";
    if (r.to) who += " → " + shortId(r.to);
    var w = el("span", "s", who); if (r.socket) w.title = r.socket + (r.to ? " → " + r.to : "");
    d.appendChild(w);
    var p = (r.preview || "") + (r.reached !== undefined ? "  (reached " + r.reached + ")" : "");
    var pv = el("span", "p", p); pv.title = p; d.appendChild(pv);
    return d;
  }
  function appendLines(rs) {
    var box = $("log");
    var atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    var frag = document.createDocumentFragment();
    rs.forEach(function (r) {
      records.push(r);
      if (r.channel) seenChannels[r.channel] = true;
      if (r.socket && r.socket !== "server") seenSockets[r.socket] = true;
      if (visible(r)) frag.appendChild(lineOf(r));
    });
    box.appendChild(frag);
    if (records.length > KEEP) records.splice(0, records.length - KEEP);
    while (box.childNodes.length > KEEP) box.removeChild(box.firstChild);
    if (atEnd) box.scrollTop = box.scrollHeight;
    $("log-count").textContent = records.length;
  }
  function rerender() {
    var box = $("log"); box.textContent = "";
    var frag = document.createDocumentFragment();
    records.forEach(function (r) { if (visible(r)) frag.appendChild(lineOf(r)); });
    box.appendChild(frag);
    box.scrollTop = box.scrollHeight;
  }
  $("filter-channel").addEventListener("change", rerender);
  $("filter-socket").addEventListener("change", rerender);
  $("pause").addEventListener("click", function () {
    paused = !paused;
    $("pause").textContent = paused ? "Resume" : "Pause";
    $("paused-note").classList.toggle("hidden", !paused);
    if (!paused) { var h = held; held = []; appendLines(h); $("held").textContent = "0"; }
  });
  $("clear").addEventListener("click", function () { records = []; rerender(); $("log-count").textContent = "0"; });
  var serverDropped = 0;
  function showDropped() {
    var n = serverDropped + heldDropped;
    $("dropped").textContent = n ? n + " line" + (n === 1 ? "" : "s") + " dropped (console too slow)" : "";
  }

  // ------------------------------------------------------------- feed
  var ws = null, retry = 0;
  function live(on, text) {
    $("live-dot").classList.toggle("live", on);
    $("live-text").textContent = text;
  }
  function onBatch(b) {
    if (b.state) renderState(b.state);
    var lines = list(b.log);
    if (paused) {
      lines.forEach(function (r) { held.push(r); });
      if (held.length > HOLD) { heldDropped += held.length - HOLD; held.splice(0, held.length - HOLD); }
      $("held").textContent = held.length;
    } else if (lines.length) {
      appendLines(lines);
    }
    serverDropped = b.dropped || 0;
    showDropped();
  }
  function connect() {
    live(false, "connecting");
    post("/_console/ticket", "{}").then(function (res) {
      if (res.status === 401) { location.reload(); return null; }
      return res.json();
    }).then(function (j) {
      if (!j) return;
      var proto = location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(proto + "//" + location.host + "/_console/feed?ticket=" + encodeURIComponent(j.ticket));
      ws.onopen = function () { retry = 0; live(true, "live"); ws.send("next"); };
      ws.onmessage = function (ev) {
        var b; try { b = JSON.parse(ev.data); } catch (e) { return; }
        onBatch(b);
        // the next batch when this one is shown: the server never queues more
        setTimeout(function () { if (ws && ws.readyState === 1) ws.send("next"); }, PACE);
      };
      ws.onclose = function () { ws = null; live(false, "disconnected"); again(); };
    }).catch(function () { live(false, "server unreachable"); again(); });
  }
  function again() { retry = Math.min(retry + 1, 5); setTimeout(connect, 500 * retry); }
  connect();
  setInterval(function () { if (lastState) { /* refresh "ago" cells */
    var rows = $("sockets").tBodies[0].rows, socks = list(lastState.sockets);
    for (var i = 0; i < rows.length && i < socks.length; i++) rows[i].cells[2].textContent = ago(socks[i].since);
  } }, 1000);

  // ---------------------------------------------------------- actions
  function jsonField(form, name, id) {
    var text = form.elements[name].value.trim() || "null";
    try { JSON.parse(text); } catch (e) { show(id, false, name + " is not valid JSON: " + e.message); return null; }
    return text;
  }
  function idField(v) {
    v = v.trim(); if (!v) return null;
    return /^-?\d+$/.test(v) ? v : JSON.stringify(v);
  }
  $("event-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target, data = jsonField(f, "data", "event-result");
    if (data === null) return;
    var body = '{"channel":' + JSON.stringify(f.elements.channel.value) + ',"data":' + data;
    var dbo = idField(f.elements.dbo_id.value), row = idField(f.elements.row_id.value);
    if (dbo) body += ',"dbo_id":' + dbo;
    if (row) body += ',"row_id":' + row;
    post("/_console/event", body + "}").then(function (res) {
      return answer("event-result", res, function (j) { return "event delivered to " + j.delivered + " socket(s)"; });
    });
  });
  $("message-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target, payload = jsonField(f, "payload", "message-result");
    if (payload === null) return;
    post("/_console/message", '{"channel":' + JSON.stringify(f.elements.channel.value) +
      ',"payload":' + payload + "}").then(function (res) {
      return answer("message-result", res, function (j) { return "message delivered to " + j.delivered + " socket(s)"; });
    });
  });
  $("close-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target;
    post("/_console/close", JSON.stringify({ socketId: f.elements.socketId.value,
      code: Number(f.elements.code.value), reason: f.elements.reason.value })).then(function (res) {
      return answer("close-result", res, function (j) { return "closed " + shortId(j.closed) + " with " + j.code; });
    });
  });
  $("logout").addEventListener("click", function () {
    post("/_console/logout", "{}").then(function () { location.reload(); });
  });
})();
</script>
</body>
</html>
]==]

return M
