// dmi-sensors live view. Plain JavaScript and canvas, no external code: works offline.
// Protocol (WebSocket /ws): server -> page {type: "hello" | "update" | "stopped" | "error"};
// page -> server {type: "action", action, text?} and {type: "ack", seq} after painting an update.
"use strict";

(function () {
  const TRACE_S = 10;          // seconds of trace shown per sensor
  const params = new URLSearchParams(window.location.search);
  const token = params.get("token");
  const $ = (id) => document.getElementById(id);

  const state = {
    ws: null,
    sensors: {},        // sensor_id -> {tile, canvas, t: [], ap: {}, running}
    placements: {},
    tagger: null,
    clockOffset: 0,     // server now_s - performance.now()/1000
    pendingAcks: [],
    drawScheduled: false,
    stopped: false,
    stopArmed: null,
  };

  // ---------------------------------------------------------------- connection
  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const query = token ? "?token=" + encodeURIComponent(token) : "";
    const ws = new WebSocket(scheme + "//" + window.location.host + "/ws" + query);
    state.ws = ws;
    setConnection("connecting…", "connecting");
    ws.onopen = () => setConnection("live", "open");
    ws.onclose = () => {
      setConnection(state.stopped ? "stopped" : "disconnected — retrying", state.stopped ? "stopped" : "closed");
      if (!state.stopped) setTimeout(connect, 2000);
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === "hello") onHello(msg);
      else if (msg.type === "update") onUpdate(msg);
      else if (msg.type === "stopped") onStopped(msg.summary);
      else if (msg.type === "error") flash(msg.message);
    };
  }

  function send(obj) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(obj));
  }

  function setConnection(text, cls) {
    const el = $("connection");
    el.textContent = text;
    el.className = "badge " + cls;
  }

  // Write a node's text only when it changed: a write replaces the text node and costs the
  // browser a style and layout pass, 20 times a second for every tile otherwise.
  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function setData(el, key, value) {
    if (el.dataset[key] !== value) el.dataset[key] = value;
  }

  function flash(text) {
    const el = $("upcoming");
    el.textContent = text;
  }

  // ---------------------------------------------------------------- messages
  function onHello(msg) {
    $("title").textContent = msg.title ? "— " + msg.title : "";
    state.placements = msg.placements || {};
    Object.entries(msg.sensors || {}).forEach(([sid, s]) => sensorState(sid, s));
    Object.entries(state.placements).forEach(([sid, p]) => tile(sid).placement.textContent = p || sid);
    const body = $("results").querySelector("tbody");
    body.textContent = "";
    (msg.results || []).forEach(addResult);
    setTagger(msg.tagger, null);
    if (msg.summary) onStopped(msg.summary);
  }

  function onUpdate(msg) {
    Object.entries(msg.sensors || {}).forEach(([sid, s]) => sensorState(sid, s));
    Object.entries(msg.traces || {}).forEach(([sid, tr]) => addTrace(sid, tr));
    Object.entries(msg.running || {}).forEach(([sid, r]) => setRunning(sid, r));
    (msg.results || []).forEach(addResult);
    setTagger(msg.tagger, msg.now_s);
    state.pendingAcks.push(msg.seq);
    scheduleDraw();
  }

  function onStopped(summary) {
    state.stopped = true;
    document.querySelectorAll("#controls button").forEach((b) => b.disabled = true);
    const body = $("summary").querySelector("tbody");
    body.textContent = "";
    const sensors = (summary && summary.sensors) || {};
    Object.entries(sensors).forEach(([sid, row]) => {
      const tr = document.createElement("tr");
      [sid, row.placement || "", row.samples_received, row.samples_lost, row.reconnects].forEach((v) => {
        const td = document.createElement("td");
        td.textContent = v === undefined || v === null ? "—" : String(v);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    $("summary-session").textContent = summary && summary.session_id !== null && summary.session_id !== undefined
      ? "Session " + summary.session_id + " saved." : "";
    $("stopped").hidden = false;
    setConnection("stopped", "stopped");
  }

  // ---------------------------------------------------------------- sensors
  function tile(sid) {
    let s = state.sensors[sid];
    if (s) return s;
    const node = $("tile-template").content.firstElementChild.cloneNode(true);
    node.dataset.sensor = sid;
    node.id = "sensor-" + sid;
    $("sensors").appendChild(node);
    s = {
      node,
      placement: node.querySelector(".placement"),
      stateEl: node.querySelector(".state"),
      battery: node.querySelector(".battery"),
      loss: node.querySelector(".loss"),
      sway: node.querySelector(".sway"),
      unit: node.querySelector(".unit"),
      canvas: node.querySelector("canvas"),
      visible: true,    // drawn only while on screen (IntersectionObserver); dirty: not drawn since new data
      dirty: true,
      t: [], tilt_ap: [], tilt_ml: [], com_ap: [], com_ml: [],
      kind: "tilt",
      lever: 1,
      points: 0,
    };
    s.placement.textContent = state.placements[sid] || sid;
    if (window.IntersectionObserver) {
      // A trace off screen (tiles below the fold) is not drawn; it is drawn as it scrolls in.
      new IntersectionObserver((entries) => {
        s.visible = entries[entries.length - 1].isIntersecting;
        if (s.visible && s.dirty) scheduleDraw();
      }).observe(s.canvas);
    }
    state.sensors[sid] = s;
    return s;
  }

  function sensorState(sid, st) {
    const s = tile(sid);
    if (st.placement) setText(s.placement, st.placement);
    if (st.state && s.node.dataset.state !== st.state) {
      s.stateEl.textContent = st.state;
      s.stateEl.className = "state badge " + st.state;
      s.node.dataset.state = st.state;
    }
    setText(s.battery, st.battery_pct === null || st.battery_pct === undefined ? "battery —" : "battery " + st.battery_pct + " %");
    const lost = st.samples_lost || 0;
    const got = st.samples_received || 0;
    const pct = got + lost > 0 ? (100 * lost / (got + lost)) : 0;
    setText(s.loss, "lost " + lost + " (" + pct.toFixed(pct < 1 ? 2 : 1) + " %)");
    setData(s.node, "samplesLost", String(lost));
  }

  function addTrace(sid, tr) {
    const s = tile(sid);
    const n = (tr.t || []).length;
    for (let i = 0; i < n; i++) {
      s.t.push(tr.t[i]);
      s.tilt_ap.push(tr.tilt_ap_deg[i]);
      s.tilt_ml.push(tr.tilt_ml_deg[i]);
      s.com_ap.push(tr.com_ap_mm ? tr.com_ap_mm[i] : null);
      s.com_ml.push(tr.com_ml_mm ? tr.com_ml_mm[i] : null);
    }
    if (n === 0) return;
    s.points += n;
    s.dirty = true;
    s.node.dataset.points = String(s.points);
    const last = s.t.length ? s.t[s.t.length - 1] : 0;
    let k = 0;
    while (k < s.t.length && s.t[k] < last - TRACE_S) k++;
    if (k > 0) ["t", "tilt_ap", "tilt_ml", "com_ap", "com_ml"].forEach((key) => s[key].splice(0, k));
  }

  function setRunning(sid, r) {
    const s = tile(sid);
    s.kind = r.kind || "tilt";
    s.lever = r.com_lever_frac || 1;  // the trace's COM is at the full COM height
    if (r.rms_ap === null || r.rms_ap === undefined) {
      setText(s.sway, "");
      return;
    }
    const unit = s.kind === "com" ? "mm" : "°";
    setText(s.sway, "sway RMS AP " + r.rms_ap.toFixed(1) + " " + unit + " · ML " + r.rms_ml.toFixed(1) + " " + unit);
  }

  // ---------------------------------------------------------------- drawing
  function scheduleDraw() {
    if (state.drawScheduled) return;
    state.drawScheduled = true;
    window.requestAnimationFrame(() => {
      state.drawScheduled = false;
      Object.values(state.sensors).forEach((s) => { if (s.visible && s.dirty) draw(s); });
      // painted: acknowledge every update drawn in this frame
      state.pendingAcks.forEach((seq) => send({ type: "ack", seq }));
      state.pendingAcks = [];
    });
  }

  function draw(s) {
    s.dirty = false;
    const c = s.canvas;
    const w = c.clientWidth || 600;
    const h = c.clientHeight || 140;
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const com = s.kind === "com" && s.com_ap.some((v) => v !== null);
    // COM with the lever of the repetition in progress (posture and support)
    const ap = com ? s.com_ap.map((v) => v * s.lever) : s.tilt_ap;
    const ml = com ? s.com_ml.map((v) => v * s.lever) : s.tilt_ml;
    setText(s.unit, com ? "COM, mm (mean of the window at 0)" : "trunk tilt, degrees (mean at 0)");
    const n = s.t.length;
    if (n < 2) return;
    const t1 = s.t[n - 1];
    const t0 = t1 - TRACE_S;
    let mean = [0, 0];
    [ap, ml].forEach((arr, j) => { let sum = 0; arr.forEach((v) => sum += v); mean[j] = sum / arr.length; });
    let span = com ? 5 : 0.5;
    for (let i = 0; i < n; i++) span = Math.max(span, Math.abs(ap[i] - mean[0]), Math.abs(ml[i] - mean[1]));
    span *= 1.15;
    g.strokeStyle = "#d9dde3";
    g.lineWidth = 1;
    g.beginPath(); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();
    g.fillStyle = "#5b6470";
    g.font = "11px system-ui, sans-serif";
    g.fillText("±" + span.toFixed(com ? 0 : 1) + (com ? " mm" : "°"), 4, 12);
    // 1-px lines: Skia draws them as hairlines, several times cheaper than a wider stroke
    // (a tablet's 2x screen still shows them 2 device pixels wide)
    [[ap, "#0d47a1", mean[0]], [ml, "#b71c1c", mean[1]]].forEach(([arr, color, m]) => {
      g.strokeStyle = color;
      g.lineWidth = 1;
      g.beginPath();
      for (let i = 0; i < n; i++) {
        const x = ((s.t[i] - t0) / TRACE_S) * w;
        const y = h / 2 - ((arr[i] - m) / span) * (h / 2);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      }
      g.stroke();
    });
  }

  // ---------------------------------------------------------------- tagging
  function setTagger(t, nowS) {
    state.tagger = t;
    if (nowS !== null && nowS !== undefined) state.clockOffset = nowS - performance.now() / 1000;
    else if (t && t.now_s !== undefined) state.clockOffset = t.now_s - performance.now() / 1000;
    const ex = t && t.exercise;
    setText($("exercise"), ex ? ex.name || ex.id : (t && t.stopped ? "stopped" : "—"));
    setData($("exercise"), "id", ex ? ex.id : "");
    setText($("repetition"), ex ? (t.repetition || "—") + " / " + ex.target_repetitions : "—");
    setText($("support"), ex ? ex.support : "—");
    setText($("posture"), ex ? ex.posture : "—");
    const up = t && t.upcoming;
    setText($("upcoming"), up ? "Next: " + (up.name || up.id) : (t && t.active ? "End of the plan" : ""));
    const pause = $("btn-pause");
    const label = t && t.paused ? "Resume " : "Pause ";
    if (pause.dataset.label !== label) {
      pause.dataset.label = label;
      pause.textContent = "";
      pause.append(label);
      const k = document.createElement("kbd"); k.textContent = "space"; pause.appendChild(k);
    }
    $("hold").classList.toggle("paused", Boolean(t && t.paused));
    tickHold();
  }

  function tickHold() {
    const t = state.tagger;
    const ex = t && t.exercise;
    const hold = $("hold");
    if (!ex || t.repetition_onset_s === null || t.repetition_onset_s === undefined) {
      setText($("hold-timer"), "—");
      setText($("hold-target"), "");
      $("hold-done").hidden = true;
      hold.classList.remove("done");
      setData(hold, "done", "false");
      $("hold-bar").style.width = "0";
      return;
    }
    const now = performance.now() / 1000 + state.clockOffset;
    const elapsed = Math.max(0, now - t.repetition_onset_s);
    const target = ex.hold_s;
    setText($("hold-timer"), elapsed.toFixed(1) + " s");
    setText($("hold-target"), "of " + target + " s");
    const done = elapsed >= target;
    $("hold-done").hidden = !done;
    hold.classList.toggle("done", done);
    setData(hold, "done", done ? "true" : "false");
    $("hold-bar").style.width = Math.min(100, (100 * elapsed) / target).toFixed(1) + "%";
  }

  function addResult(r) {
    const body = $("results").querySelector("tbody");
    const tr = document.createElement("tr");
    tr.className = "fresh";
    tr.dataset.exercise = r.exercise;
    tr.dataset.repetition = String(r.repetition);
    tr.dataset.sensor = r.sensor_id;
    const m = r.measures || {};
    let sway = r.status;
    if (r.status === "ok") {
      sway = r.kind === "com"
        ? "COM RMS AP " + fmt(m.com_rms_ap_mm) + " mm · ML " + fmt(m.com_rms_ml_mm) + " mm · ellipse " + fmt(m.com_ellipse_area_mm2, 0) + " mm²"
        : "tilt RMS AP " + fmt(m.tilt_rms_ap_deg) + "° · ML " + fmt(m.tilt_rms_ml_deg) + "°";
    }
    [r.exercise, r.repetition, r.placement || r.sensor_id, sway, (r.end_s - r.hold_start_s).toFixed(1) + " s"].forEach((v) => {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    });
    body.insertBefore(tr, body.firstChild);
  }

  function fmt(v, digits) {
    return v === null || v === undefined ? "—" : Number(v).toFixed(digits === undefined ? 1 : digits);
  }

  // ---------------------------------------------------------------- controls
  function act(action, text) {
    if (state.stopped) return;
    if (action === "note" && text === undefined) return openNote();
    if (action === "stop") {
      const b = $("btn-stop");
      if (!state.stopArmed) {
        b.classList.add("confirm");
        b.textContent = "Tap again to stop";
        state.stopArmed = setTimeout(disarmStop, 4000);
        return;
      }
      disarmStop();
    }
    const msg = { type: "action", action };
    if (text !== undefined) msg.text = text;
    send(msg);
  }

  function disarmStop() {
    clearTimeout(state.stopArmed);
    state.stopArmed = null;
    const b = $("btn-stop");
    b.classList.remove("confirm");
    b.textContent = "Stop ";
    const k = document.createElement("kbd"); k.textContent = "q"; b.appendChild(k);
  }

  function openNote() {
    const d = $("note-dialog");
    $("note-text").value = "";
    if (typeof d.showModal === "function") d.showModal(); else d.setAttribute("open", "");
    $("note-text").focus();
  }

  function closeNote() {
    const d = $("note-dialog");
    if (typeof d.close === "function") d.close(); else d.removeAttribute("open");
  }

  function init() {
    document.querySelectorAll("#controls button").forEach((b) => {
      b.addEventListener("click", () => act(b.dataset.action));
    });
    $("note-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = $("note-text").value.trim();
      closeNote();
      if (text) act("note", text);
    });
    $("note-cancel").addEventListener("click", closeNote);
    document.addEventListener("keydown", (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const tag = (ev.target && ev.target.tagName) || "";
      if (tag === "TEXTAREA" || tag === "INPUT" || $("note-dialog").open) return;
      if (tag === "BUTTON" && (ev.key === " " || ev.key === "Enter")) return; // the button's own click
      const map = { n: "next_exercise", r: "next_repetition", " ": "pause", t: "note", q: "stop" };
      const action = map[ev.key];
      if (action) { ev.preventDefault(); act(action); }
    });
    setInterval(tickHold, 100);
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
