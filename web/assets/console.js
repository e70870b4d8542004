// Wardgate console: plain JS, no build step. Every read and write goes through /api/v1 with
// the session cookie; writes carry the page's anti-CSRF token (X-CSRF-Token).
"use strict";
(function () {
  const $ = (s, el) => (el || document).querySelector(s);
  const $$ = (s, el) => Array.from((el || document).querySelectorAll(s));
  const csrf = ($('meta[name="csrf-token"]') || {}).content || "";
  const body = document.body;
  const page = body.dataset.page;
  const doorId = body.dataset.door;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k)));
    return e;
  }

  async function api(method, path, data, raw) {
    const opts = { method, credentials: "same-origin", headers: {} };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (raw) { opts.body = raw.body; opts.headers["Content-Type"] = raw.type; }
    else if (data !== undefined) { opts.body = JSON.stringify(data); opts.headers["Content-Type"] = "application/json"; }
    let r;
    try { r = await fetch(path, opts); } catch (e) { return { ok: false, status: 0, data: { detail: "the controller does not answer: " + e.message } }; }
    if (r.status === 401) { location.href = "/console/login"; }
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = { detail: text }; }
    return { ok: r.ok, status: r.status, data: json };
  }
  const problem = (r) => (r.data && (r.data.detail || r.data.title)) || ("HTTP " + r.status);

  function flash(msg, isError) {
    const f = $("#flash");
    if (!f) return;
    f.textContent = msg; f.hidden = false; f.className = "flash" + (isError ? " error" : "");
    clearTimeout(flash.t); flash.t = setTimeout(() => { f.hidden = true; }, 8000);
  }

  const fmtTime = (t) => (t ? new Date(t).toLocaleString() : "—");
  const REASONS = {
    granted: "granted", unknown_staff: "face not recognised", unknown_patient: "patient not recognised",
    patient_required: "a patient must be shown too", not_staff: "not a staff member", not_a_patient: "not a patient",
    not_clinical: "not a doctor or nurse", not_permitted: "no access to this door", grant_expired: "access has expired",
    grant_not_yet_valid: "access not yet valid", subject_inactive: "person is inactive", spoof_suspected: "looks like a photo or screen",
    lockdown: "door in lockdown", unknown_door: "unknown door", bad_request: "bad request", awaiting_patient: "waiting for the patient",
    login_succeeded: "logged in", login_failed: "wrong name or password", login_throttled: "too many failed logins", logged_out: "logged out",
    login_code_failed: "wrong login code", auth_failed: "API credential refused", auth_throttled: "API client held back (too many refused credentials)", totp_enabled: "second factor on", totp_disabled: "second factor off",
    door_command: "door command", pulse: "test pulse", hold: "hold unlocked", break_glass: "break glass (emergency access)",
    break_glass_started: "emergency access started", break_glass_ended: "emergency access ended", release_lockdown: "lockdown released", ack_alarm: "alarm acknowledged",
    patient_timeout: "no patient came in time", door_fault: "door fault", controller_unavailable: "door controller not answering",
    lock_changed: "lock moved", state_changed: "door state changed", door_opened: "door opened",
    door_closed: "door closed", rex_pressed: "exit button pressed", unlock_refused: "unlock refused", alarm_raised: "alarm raised",
    alarm_cleared: "alarm cleared", alarm_acknowledged: "alarm acknowledged", fire_alarm_active: "fire alarm", safe_state: "lock to safe state",
    face_added: "template added", face_deleted: "template deleted", user_created: "account created", user_deleted: "account deleted",
  };
  const reasonWords = (r) => REASONS[r] || (r || "").replace(/_/g, " ");
  const FEEDBACK = {
    no_face: "no face in view", several_faces: "more than one face", face_size: "too small: come closer",
    sharpness: "blurry: hold still", yaw: "turned away: face the camera", pitch: "head tilted: look straight",
    exposure: "too dark or too bright", quality: "quality too low",
  };
  const feedbackWords = (f) => FEEDBACK[f] || (f || "").replace(/_/g, " ");

  // Names, not ids: one directory of people, refreshed on demand.
  let names = null;
  async function people(force) {
    if (names && !force) return names;
    const map = new Map();
    for (let off = 0; off < 20000; off += 500) {
      const r = await api("GET", "/api/v1/subjects?limit=500&offset=" + off);
      if (!r.ok) break;
      r.data.items.forEach((s) => map.set(s.id, s));
      if (off + 500 >= r.data.total) break;
    }
    names = map;
    return map;
  }
  const nameOf = (id) => (id ? (names && names.get(id) ? names.get(id).name : "unknown person") : "");

  function eventSocket(onEvent) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    const open = () => {
      ws = new WebSocket(proto + "//" + location.host + "/ws/events");
      ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { /* not an event */ } };
      ws.onclose = () => setTimeout(open, 3000);
    };
    open();
  }

  function dl(target, pairs) {
    target.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v == null || v === "" ? "not available" : v)]));
  }

  // Face boxes over a camera <img>, from /api/v1/live/overlay.
  function drawBoxes(box, o) {
    const stale = o.age_ms > 2000;
    box.replaceChildren(...(stale ? [] : o.faces.map((f) => {
      const d = el("div", { class: "facebox" + (o.feedback ? " bad" : "") });
      d.style.left = (100 * f.x0 / o.width) + "%"; d.style.top = (100 * f.y0 / o.height) + "%";
      d.style.width = (100 * (f.x1 - f.x0) / o.width) + "%"; d.style.height = (100 * (f.y1 - f.y0) / o.height) + "%";
      const label = f.track != null
        ? ["#" + f.track, f.name || (f.similarity != null ? "unknown" : "…"),
           f.similarity != null ? "sim " + f.similarity.toFixed(2) : "",
           f.liveness != null ? "liveness: " + f.liveness : "",
           f.acting && o.feedback ? "· " + feedbackWords(o.feedback) : ""].filter(Boolean).join(" ")
        : ("face " + f.score.toFixed(2) + (o.feedback ? " · " + feedbackWords(o.feedback) : ""));
      if (f.acting) d.classList.add("acting");
      d.append(el("span", {}, label));
      return d;
    })));
  }

  function startCamera(img, onOverlay) {
    const box = $("#boxes");
    img.addEventListener("error", () => flash("No camera picture: this controller runs no camera, or it is lost (see Health).", true));
    const poll = async () => {
      const r = await api("GET", "/api/v1/live/overlay");
      if (r.ok) { drawBoxes(box, r.data); if (onOverlay) onOverlay(r.data); }
      setTimeout(poll, r.ok ? 250 : 3000);
    };
    poll();
  }

  // ---- pages ----
  const pages = {};

  pages.live = async () => {
    await people();
    startCamera($("#cam"), (o) => {
      dl($("#face-info"), [["faces", String(o.faces.length)], ["quality", o.feedback ? feedbackWords(o.feedback) : (o.faces.length ? "good" : "—")],
        ["tracks", String(o.faces.filter((f) => f.track != null).length)]]);
      dl($("#timing-info"), [["detect", o.timings_ms.detect.toFixed(1)], ["landmarks", o.timings_ms.landmarks.toFixed(1)],
        ["align", o.timings_ms.align.toFixed(1)], ["embed", o.timings_ms.embed.toFixed(1)], ["total", o.timings_ms.total.toFixed(1)],
        ["analysed fps", o.inference_fps.toFixed(1)], ["latency", o.latency_ms != null ? o.latency_ms.toFixed(0) + " ms" : null]]);
    });
    const camInfo = async () => {
      const r = await api("GET", "/api/v1/status");
      if (r.ok && r.data.camera) {
        const c = r.data.camera;
        dl($("#cam-info"), [["state", c.state + (c.error ? ": " + c.error : "")], ["device", c.device], ["size", c.width + "×" + c.height],
          ["fps", c.fps.toFixed(1)], ["dropped", String(c.dropped)]]);
      } else if (r.ok) dl($("#cam-info"), [["state", "no camera loop on this controller"]]);
      setTimeout(camInfo, 3000);
    };
    camInfo();
    // What the door shows the person at it (the liveness challenge), as /door-display does.
    const prompts = () => {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(proto + "//" + location.host + "/ws/presentation");
      const words = { left: "left ←", right: "right →", up: "up ↑", down: "down ↓" };
      ws.onmessage = (m) => {
        let p;
        try { p = JSON.parse(m.data); } catch (e) { return; }
        const t = $("#door-prompt");
        const hints = { further: "a little further", closer: "come closer", face_camera: "look back at the camera" };
        t.className = p.state === "challenge" || p.state === "guide" ? "" : p.state === "decided" ? (p.granted ? "ok" : "error") : "muted";
        t.dataset.state = p.state;
        t.textContent = p.state === "challenge" ? "Challenge step " + p.step + " of " + p.of + ": turn " + (words[p.direction] || p.direction)
          : p.state === "guide" ? "Challenge step " + p.step + " of " + p.of + ": turn " + (words[p.direction] || p.direction)
            + " — " + p.filled + "/4 of the turn" + (p.hint ? ", told: " + (hints[p.hint] || p.hint) : "")
          : p.state === "step_passed" ? "Step " + p.step + " passed"
          : p.state === "decided" ? (p.granted ? "Granted" : "Denied: " + reasonWords(p.reason))
          : p.state === "looking" ? "Recognising a face" : "Nobody at the door";
      };
      ws.onclose = () => setTimeout(prompts, 3000);
    };
    prompts();
    eventSocket((e) => {
      if (e.kind !== "decision") return;
      $("#last-decision").className = e.granted ? "ok" : "error";
      $("#last-decision").textContent = (e.granted ? "Granted: " : "Denied: ") + (nameOf(e.subject_id) || "unknown face") +
        " — " + reasonWords(e.reason) + " (" + fmtTime(e.time) + ")";
    });
  };

  pages.door = async () => {
    if (!doorId) return;
    const show = (s) => {
      const words = { locked: "Locked", lockdown: "Lockdown", unlocked: "Unlocked", open: "Open", fire_release: "Fire release" };
      const forced = s.alarms.some((a) => a.alarm === "forced_open" && a.active);
      const held = s.alarms.some((a) => a.alarm === "held_open" && a.active);
      $("#door-state").textContent = (words[s.state] || s.state) + (forced ? " — forced" : held ? " — held open" : "");
      $("#door-state").className = "big " + (s.state === "locked" ? "ok" : s.state === "lockdown" || forced ? "error" : "warn");
      dl($("#door-info"), [["lock", s.locked ? "locked" : "unlocked"], ["why", s.unlock_reason], ["until", s.unlocked_until ? fmtTime(s.unlocked_until) : null],
        ["lock type", s.lock_type], ["fault", s.fault || "none"]]);
      dl($("#door-inputs"), [["door contact", s.door], ["exit button", s.rex_pressed ? "pressed" : "released"], ["fire alarm", s.fire_alarm ? "ACTIVE" : "clear"],
        ["relay", s.relay_energised == null ? null : (s.relay_energised ? "energised" : "released")]]);
      const al = $("#door-alarms");
      al.replaceChildren(...(s.alarms.length ? s.alarms.map((a) => el("li", { class: a.acknowledged ? "muted" : "error" },
        a.alarm.replace(/_/g, " ") + " since " + fmtTime(a.raised_at) + (a.acknowledged ? " (acknowledged)" : "") + (a.active ? "" : " (cleared)")))
        : [el("li", { class: "muted" }, "none")]));
    };
    const refresh = async () => {
      const r = await api("GET", "/api/v1/doors/" + encodeURIComponent(doorId));
      if (r.ok && r.data.state) show(r.data.state); else if (!r.ok) flash(problem(r), true);
    };
    // The emergency-access report: every break-glass at this door, with who and why.
    const episodes = async () => {
      const r = await api("GET", "/api/v1/break-glass");
      if (!r.ok) return;
      const mine = r.data.episodes.filter((e) => e.door_id === doorId).reverse();
      $("#break-glass-rows").replaceChildren(...(mine.length ? mine.map((e) => el("tr", { "data-source": e.source },
        el("td", {}, fmtTime(e.started_at)), el("td", {}, e.ended_at ? fmtTime(e.ended_at) + " (" + e.seconds + " s)" : "running"),
        el("td", {}, e.source === "key_switch" ? "key switch" : "command, " + e.minutes + " min"), el("td", {}, e.reason || ""),
        el("td", {}, e.token_id ? e.token_id + " (" + e.role + ")" : "")))
        : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "none"))]));
    };
    $$("button[data-cmd]").forEach((b) => b.addEventListener("click", async () => {
      let cmd = { command: b.dataset.cmd };
      if (b.dataset.cmd === "break_glass") {
        cmd.reason = $("#break-glass-reason").value.trim();
        if (!cmd.reason) { flash("Say why emergency access is needed: it is recorded.", true); return; }
      }
      if (!confirm(b.dataset.confirm)) return;
      if (b.dataset.cmd === "hold") cmd.minutes = parseInt($("#hold-minutes").value, 10) || 0;
      if (b.dataset.cmd === "hold0") cmd = { command: "hold", minutes: 0 };
      b.disabled = true;
      const r = await api("POST", "/api/v1/doors/" + encodeURIComponent(doorId) + "/commands", cmd);
      b.disabled = false;
      if (r.ok) { show(r.data); flash("Done: " + b.textContent + ". It is in the audit log."); setTimeout(episodes, 1500); } else flash(problem(r), true);
    }));
    refresh();
    episodes();
    setInterval(refresh, 2000);
    eventSocket((e) => { if (e.door_id === doorId && (e.kind === "door" || e.kind === "alarm")) { refresh(); episodes(); } });
  };

  pages.events = async () => {
    await people();
    const form = $("#filters");
    let shown = [];
    const who = (e) => {
      if (e.subject_id) return nameOf(e.subject_id) + (e.patient_id ? " + " + nameOf(e.patient_id) : "");
      const d = e.details || {};
      if (d.user) return d.user;
      if (typeof d.token_id === "string") return d.token_id.startsWith("user:") ? d.token_id.slice(5) : "token " + d.token_id.slice(0, 8);
      return "";
    };
    const result = (e) => (e.granted === true ? "granted" : e.granted === false ? "denied" : "");
    const matches = (e) => {
      const f = new FormData(form);
      const person = (f.get("person") || "").toLowerCase(), reason = (f.get("reason") || "").toLowerCase();
      if (f.get("kind") && e.kind !== f.get("kind")) return false;
      if (f.get("door_id") && e.door_id !== f.get("door_id")) return false;
      if (person && !who(e).toLowerCase().includes(person)) return false;
      if (reason && !(e.reason + " " + reasonWords(e.reason) + " " + result(e)).toLowerCase().includes(reason)) return false;
      return true;
    };
    const row = (e) => el("tr", { onclick: () => details(e), "data-reason": e.reason, "data-kind": e.kind },
      el("td", {}, fmtTime(e.time)), el("td", { class: "hide-narrow" }, e.kind), el("td", { class: "hide-narrow" }, e.door_id || ""), el("td", {}, who(e)),
      el("td", { class: e.granted === true ? "ok" : e.granted === false ? "error" : "" }, result(e)), el("td", {}, reasonWords(e.reason)));
    const render = () => {
      const rows = $("#event-rows");
      rows.replaceChildren(...(shown.length ? shown.map(row) : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no events"))]));
    };
    const load = async () => {
      const f = new FormData(form), q = new URLSearchParams({ limit: "200" });
      for (const k of ["kind", "door_id"]) if (f.get(k)) q.set(k, f.get(k));
      for (const k of ["from", "to"]) if (f.get(k)) q.set(k, new Date(f.get(k)).toISOString());
      const r = await api("GET", "/api/v1/events?" + q);
      if (!r.ok) { flash(problem(r), true); return; }
      shown = r.data.items.filter(matches);
      render();
    };
    // The door loop's per-frame stage timings behind a camera decision, one row per frame.
    const STAGES = ["detect", "mesh", "align", "embed", "match"];
    const frameTable = (frames) => el("table", { class: "frames" },
      el("thead", {}, el("tr", {}, el("th", {}, "track"), el("th", {}, "frame"), STAGES.map((st) => el("th", {}, st)))),
      el("tbody", {}, frames.map((f) => el("tr", {}, el("td", {}, "#" + f.track), el("td", {}, String(f.frame)),
        STAGES.map((st) => el("td", {}, f[st + "_ms"] != null ? f[st + "_ms"].toFixed(1) : "—"))))));
    function details(e) {
      const d = e.details || {};
      const pairs = [["time", fmtTime(e.time)], ["kind", e.kind], ["reason", reasonWords(e.reason) + " (" + e.reason + ")"], ["door", e.door_id],
        ["who", who(e)], ["result", result(e)]];
      for (const [k, v] of Object.entries(d)) {
        if (k === "frames" && Array.isArray(v)) pairs.push(["frames (ms)", frameTable(v)]);
        else pairs.push([k.replace(/_/g, " "), typeof v === "object" ? JSON.stringify(v) : String(v)]);
      }
      pairs.push(["chain", e.node + " #" + e.seq], ["hash", e.hash]);
      dl($("#detail-list"), pairs);
      $("#event-details").showModal();
    }
    form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
    $("#csv").addEventListener("click", () => {
      const q = (s) => '"' + String(s == null ? "" : s).replace(/"/g, '""') + '"';
      const lines = [["time", "kind", "door", "who", "result", "reason", "reason_code", "id"].map(q).join(",")]
        .concat(shown.map((e) => [e.time, e.kind, e.door_id, who(e), result(e), reasonWords(e.reason), e.reason, e.id].map(q).join(",")));
      const a = el("a", { href: URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" })), download: "wardgate-events.csv" });
      document.body.append(a); a.click(); a.remove();
    });
    await load();
    eventSocket(async (e) => {
      if (!$("#follow").checked || !matches(e)) return;
      if (e.subject_id && !names.has(e.subject_id)) await people(true);
      shown.unshift(e); shown = shown.slice(0, 500); render();
    });
  };

  function subjectPicker(input, list, onPick, filterFn) {
    const show = async () => {
      const all = Array.from((await people(true)).values()).filter(filterFn || (() => true));
      const q = input.value.trim().toLowerCase();
      const hits = all.filter((s) => !q || (s.name + " " + s.external_id + " " + s.role).toLowerCase().includes(q)).slice(0, 50);
      list.replaceChildren(...hits.map((s) => el("li", { onclick: () => onPick(s), "data-id": s.id }, s.name + " · " + s.external_id + " · " + s.role)));
    };
    input.addEventListener("input", show);
    show();
    return show;
  }

  pages.enrolment = async () => {
    let picked = null;
    const templates = async () => {
      const r = await api("GET", "/api/v1/subjects/" + picked.id + "/faces");
      const rows = $("#templates");
      if (!r.ok) { rows.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "error" }, problem(r)))); return; }
      rows.replaceChildren(...(r.data.length ? r.data.map((f) => el("tr", {}, el("td", {}, f.id.slice(0, 8)), el("td", {}, f.model_id), el("td", {}, fmtTime(f.created_at)),
        el("td", {}, el("button", { class: "danger", onclick: async () => {
          if (!confirm("Delete this template?")) return;
          const d = await api("DELETE", "/api/v1/subjects/" + picked.id + "/faces/" + f.id);
          if (d.ok) { flash("Template deleted."); templates(); } else flash(problem(d), true);
        } }, "Delete")))) : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no templates yet"))]));
      rows.dataset.count = String(r.data.length);
    };
    const consent = async () => {
      const r = await api("GET", "/api/v1/subjects/" + picked.id + "/consent");
      const s = $("#consent-status");
      const stands = r.ok && !r.data.withdrawn_ms;
      if (stands) s.textContent = "Consent on record: " + r.data.method + ", " + r.data.document + ", recorded by " + r.data.recorded_by + " on " + fmtTime(r.data.recorded_ms) + ".";
      else if (r.ok) s.textContent = "Consent withdrawn on " + fmtTime(r.data.withdrawn_ms) + ": record it again before adding a template.";
      else if (r.status === 404) s.textContent = "No consent on record: record it before adding a template.";
      else s.textContent = problem(r);
      s.className = stands ? "ok" : "warn";
      s.dataset.stands = String(stands);
      $("#withdraw-consent").hidden = !stands;
    };
    $("#consent").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const body = { method: f.get("method"), document: f.get("document") };
      if (String(f.get("recorded_by") || "").trim()) body.recorded_by = f.get("recorded_by");
      const r = await api("PUT", "/api/v1/subjects/" + picked.id + "/consent", body);
      if (r.ok) flash("Consent recorded."); else flash(problem(r), true);
      consent();
    });
    $("#withdraw-consent").addEventListener("click", async () => {
      if (!confirm("Withdraw consent? Every template of this person is deleted at once.")) return;
      const r = await api("DELETE", "/api/v1/subjects/" + picked.id + "/consent");
      if (r.ok) flash("Consent withdrawn; " + r.data.purged_templates + " template(s) deleted."); else flash(problem(r), true);
      consent(); templates();
    });
    const pick = (s) => {
      picked = s;
      $("#picked").textContent = s.name + " (" + s.external_id + ")";
      $("#enrol-panel").hidden = false;
      const img = $("#cam");
      if (!img.src) {
        img.src = img.dataset.src;
        startCamera(img, (o) => {
          const q = $("#quality");
          q.textContent = o.faces.length && !o.feedback ? "Good: ready to capture." : "Not yet: " + feedbackWords(o.feedback || "no_face");
          q.className = o.faces.length && !o.feedback ? "ok" : "warn";
        });
      }
      consent();
      templates();
    };
    const refresh = subjectPicker($("#person-search"), $("#person-results"), pick);
    $("#new-person").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const r = await api("POST", "/api/v1/subjects", { name: f.get("name"), external_id: f.get("external_id"), role: f.get("role") });
      if (r.ok) { flash("Created " + r.data.name + "."); ev.target.reset(); await refresh(); pick(r.data); } else flash(problem(r), true);
    });
    $("#upload").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const out = $("#upload-result");
      const files = Array.from($("#photo").files);
      if (!files.length) { out.className = "error"; out.textContent = "Choose a photo first."; return; }
      const msgs = [];
      let failed = false;
      for (const file of files) {
        const r = await api("POST", "/api/v1/subjects/" + picked.id + "/faces", undefined, { body: file, type: file.type || "application/octet-stream" });
        if (r.ok) msgs.push(file.name + ": template added.");
        else { failed = true; msgs.push(file.name + ": " + (r.status === 415 ? "not a JPEG or PNG photo. " : "") + problem(r)); }
      }
      out.className = failed ? "error" : "ok";
      out.textContent = msgs.join(" ");
      templates();
    });
    $("#capture").addEventListener("click", async () => {
      const r = await api("POST", "/api/v1/subjects/" + picked.id + "/faces/capture");
      if (r.ok) { flash("Template added from the camera."); templates(); } else flash(problem(r), true);
    });
  };

  pages.people = async () => {
    let person = null;
    const toLocal = (v) => (v ? new Date(v).toISOString() : undefined);
    const drawPeople = async () => {
      const all = Array.from((await people(true)).values());
      const q = $("#people-search").value.trim().toLowerCase();
      const hits = all.filter((s) => !q || (s.name + " " + s.external_id + " " + s.role).toLowerCase().includes(q)).slice(0, 200);
      $("#people-rows").replaceChildren(...hits.map((s) => el("tr", { onclick: () => grants(s), "data-id": s.id },
        el("td", {}, s.name), el("td", {}, s.external_id), el("td", {}, s.role), el("td", {}, s.status),
        el("td", {}, s.source === "admin" ? "console / API" : el("span", { class: "pill" }, s.source + " (read-only)")))));
      const pats = all.filter((s) => s.role === "patient");
      const sel = $('select[name="patient_id"]');
      sel.replaceChildren(el("option", { value: "" }, "—"), ...pats.map((p) => el("option", { value: p.id }, p.name + " · " + p.external_id)));
    };
    const grants = async (s) => {
      person = s;
      $("#grant-person").textContent = s.name;
      $("#grants-panel").hidden = false;
      const r = await api("GET", "/api/v1/grants?include_revoked=true&limit=500&staff_id=" + encodeURIComponent(s.id));
      if (!r.ok) { flash(problem(r), true); return; }
      $("#grant-rows").replaceChildren(...r.data.items.map((g) => el("tr", {},
        el("td", {}, g.door_id ? "door " + g.door_id : "patient " + nameOf(g.patient_id)), el("td", {}, fmtTime(g.valid_from)), el("td", {}, fmtTime(g.valid_until)),
        el("td", {}, el("span", { class: "pill " + (g.status === "active" ? "ok" : "bad") }, g.status.replace(/_/g, " "))),
        el("td", {}, g.source === "admin" ? "console / API" : g.source + " (read-only)"),
        el("td", {}, g.source === "admin" && g.status !== "revoked" ? el("button", { class: "danger", onclick: async () => {
          if (!confirm("Revoke this grant?")) return;
          const d = await api("DELETE", "/api/v1/grants/" + g.id);
          if (d.ok) { flash("Grant revoked."); grants(s); } else flash(problem(d), true);
        } }, "Revoke") : ""))));
    };
    // The subject access report, as a printable section (the API's JSON, in words).
    const report = async (s) => {
      const r = await api("GET", "/api/v1/subjects/" + encodeURIComponent(s.id) + "/report");
      if (!r.ok) { flash(problem(r), true); return; }
      const d = r.data;
      const none = (n) => [el("tr", {}, el("td", { colspan: String(n), class: "muted" }, "none"))];
      $("#report-person").textContent = d.subject.name;
      $("#report-at").textContent = fmtTime(d.generated_at);
      const c = d.consent;
      dl($("#report-record"), [["name", d.subject.name], ["number", d.subject.external_id], ["role", d.subject.role], ["status", d.subject.status],
        ["managed by", d.subject.source], ["created", fmtTime(d.subject.created_at)],
        ["consent", c ? (c.withdrawn_ms ? "withdrawn " + fmtTime(c.withdrawn_ms) : c.method + ", " + c.document + ", recorded by " + c.recorded_by) : "none recorded"]]);
      $("#report-templates").replaceChildren(...(d.templates.length ? d.templates.map((t) => el("tr", {}, el("td", {}, t.id), el("td", {}, t.model_id + " (" + t.dim + ")"), el("td", {}, fmtTime(t.created_at)))) : none(3)));
      const gr = d.grants_held.concat(d.grants_onto);
      $("#report-grants").replaceChildren(...(gr.length ? gr.map((g) => el("tr", {}, el("td", {}, g.door_id ? "door " + g.door_id : "patient " + nameOf(g.patient_id)),
        el("td", {}, fmtTime(g.valid_from)), el("td", {}, fmtTime(g.valid_until)), el("td", {}, g.status.replace(/_/g, " ")))) : none(4)));
      $("#report-events").replaceChildren(...(d.events.length ? d.events.map((e) => el("tr", {}, el("td", {}, e.kind), el("td", {}, String(e.count)),
        el("td", {}, fmtTime(e.first_at)), el("td", {}, fmtTime(e.last_at)))) : none(4)));
      $("#report-decisions-total").textContent = "(" + d.decisions_total + ")";
      $("#report-decisions").replaceChildren(...(d.decisions.length ? d.decisions.map((e) => el("tr", {}, el("td", {}, fmtTime(e.time)),
        el("td", {}, e.door_id || ""), el("td", {}, (e.granted ? "granted" : "denied") + ": " + reasonWords(e.reason)))) : none(3)));
      $("#report-panel").hidden = false;
      $("#report-panel").scrollIntoView();
    };
    $("#report-open").addEventListener("click", () => { if (person) report(person); });
    $("#report-print").addEventListener("click", () => window.print());
    $("#people-search").addEventListener("input", drawPeople);
    const doors = await api("GET", "/api/v1/doors");
    if (doors.ok) $('select[name="door_id"]').append(...doors.data.map((d) => el("option", { value: d.id }, d.name + " (" + d.id + ")")));
    await drawPeople();
    $("#new-grant").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const b = { staff_id: person.id, door_id: f.get("door_id") || undefined, patient_id: f.get("patient_id") || undefined,
        valid_from: toLocal(f.get("valid_from")), valid_until: toLocal(f.get("valid_until")) };
      if (!confirm("Grant " + person.name + " this access?")) return;
      const r = await api("POST", "/api/v1/grants", b);
      if (r.ok) { flash("Access granted."); ev.target.reset(); grants(person); } else flash(problem(r), true);
    });
    const users = async () => {
      const r = await api("GET", "/api/v1/users");
      if (!r.ok) { flash(problem(r), true); return; }
      const me = r.data.find((u) => u.name === body.dataset.user);
      $("#totp-state").textContent = me && me.totp ? "On: login asks for a code from your authenticator app." : "Off: your password alone logs you in.";
      $("#totp-start").textContent = me && me.totp ? "Replace" : "Set up";
      $("#totp-off").hidden = !(me && me.totp);
      $("#user-rows").replaceChildren(...r.data.map((u) => el("tr", {}, el("td", {}, u.name), el("td", {}, u.role), el("td", {}, u.totp ? "yes" : "no"), el("td", {}, fmtTime(u.last_login_at)),
        el("td", {}, el("button", { class: "danger", onclick: async () => {
          if (!confirm("Delete the account " + u.name + "? Their sessions end now.")) return;
          const d = await api("DELETE", "/api/v1/users/" + u.id);
          if (d.ok) users(); else flash(problem(d), true);
        } }, "Delete")))));
    };
    users();
    // The session's own second factor: a new secret is shown once and only stored once a code
    // from the app confirms it.
    $("#totp-start").addEventListener("click", async () => {
      const r = await api("POST", "/api/v1/users/me/totp");
      if (!r.ok) { flash(problem(r), true); return; }
      $("#totp-secret").textContent = r.data.secret;
      $("#totp-uri").textContent = r.data.otpauth_uri; $("#totp-uri").href = r.data.otpauth_uri;
      $("#totp-setup").hidden = false; $("#totp-code").focus();
    });
    $("#totp-confirm").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = await api("PUT", "/api/v1/users/me/totp", { code: $("#totp-code").value.trim() });
      if (!r.ok) { flash(problem(r), true); return; }
      ev.target.reset(); $("#totp-setup").hidden = true;
      flash("Second factor on: the next login asks for a code."); users();
    });
    $("#totp-off").addEventListener("click", async () => {
      if (!confirm("Turn off the code at login for your account?")) return;
      const r = await api("DELETE", "/api/v1/users/me/totp");
      if (r.ok) { flash("Second factor off."); users(); } else flash(problem(r), true);
    });
    $("#new-user").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = new FormData(ev.target);
      const r = await api("POST", "/api/v1/users", { name: f.get("name"), role: f.get("role"), password: f.get("password") });
      if (r.ok) { flash("Account " + r.data.name + " created."); ev.target.reset(); users(); } else flash(problem(r), true);
    });
  };

  // The change feed is read every database.change_poll_ms (≤ 1 s): a lag of several seconds
  // means reads are failing and the door decides from an older catalog.
  const LAG_WARN_MS = 5000;
  // The certificate's SHA-256 fingerprint when the API is served over TLS; "plain HTTP" otherwise.
  const tlsRow = (t) => (!t ? "plain HTTP" : "https://" + t.listen + " · certificate SHA-256 " + t.fingerprint_sha256 + (t.client_certificates ? " · client certificates accepted" : ""));

  pages.health = async () => {
    const card = (title, pairs, cls) => { const c = el("div", { class: "card " + (cls || "") }, el("h2", {}, title), el("dl")); dl($("dl", c), pairs); return c; };
    const mb = (b) => (b / 1048576).toFixed(0) + " MB";
    const up = (s) => Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
    const load = async () => {
      const r = await api("GET", "/api/v1/status");
      if (!r.ok) { flash(problem(r), true); setTimeout(load, 5000); return; }
      const s = r.data, c = s.camera, i = s.inference, d = s.database;
      $("#health").replaceChildren(
        card("Camera", c ? [["state", c.state + (c.error ? ": " + c.error : "")], ["source", c.source], ["device", c.device], ["format", c.format],
          ["size", c.width + "×" + c.height], ["fps", c.fps.toFixed(1)], ["dropped", String(c.dropped)], ["reconnects", String(c.reconnects)]] : [["camera", null]]),
        card("Inference", i ? [["total", i.last_ms.total.toFixed(1) + " ms"], ["detect", i.last_ms.detect.toFixed(1) + " ms"], ["landmarks", i.last_ms.landmarks.toFixed(1) + " ms"],
          ["align", i.last_ms.align.toFixed(1) + " ms"], ["embed", i.last_ms.embed.toFixed(1) + " ms"], ["frames/s", i.fps.toFixed(1)],
          ["latency", i.latency_ms != null ? i.latency_ms.toFixed(0) + " ms" : null], ["stage histograms", s.pipeline ? JSON.stringify(s.pipeline) : null]] : [["door loop", null]]),
        card("Database", [["backend", d.backend], ["reachable", d.reachable ? "yes" : "NO"], ["ping", d.ping_ms != null ? d.ping_ms + " ms" : null],
          ["spool backlog", d.spool_backlog != null ? String(d.spool_backlog) + " events" : null], ["change lag", d.change_lag_ms != null ? d.change_lag_ms + " ms" + (d.change_lag_ms > LAG_WARN_MS ? " (behind the database)" : "") : null]],
          !d.reachable || d.change_lag_ms > LAG_WARN_MS ? "error" : ""),
        card("System", [["version", s.version], ["uptime", up(s.uptime_secs)], ["node", s.node], ["door", s.door_id],
          ["CPU temperature", s.cpu_temperature_c != null ? s.cpu_temperature_c.toFixed(1) + " °C" : null],
          ["disk free", s.disk ? mb(s.disk.free_bytes) + " of " + mb(s.disk.total_bytes) : null]]),
        card("Models", [["loaded", s.models.loaded ? "yes" : "NO"], ["embedder", s.models.embedder]].concat(s.models.files.map((f) => [f.file, f.sha256])), "models"),
        card("Audit chain", [["chain", s.audit.chain + (s.audit.partial ? " (checked " + s.audit.checked + ")" : "")], ["events checked", String(s.audit.checked)], ["problem", s.audit.error || "none"]],
          s.audit.chain === "broken" ? "error" : ""),
        card("Security", [["TLS", tlsRow(s.tls)],
          ["matching threshold", s.matching ? s.matching.threshold.toFixed(3) + " (" + s.matching.reason + ", " + s.matching.templates + " templates)" : null],
          ["why", s.matching ? s.matching.explanation : null]]));
      $("#updated").textContent = "Updated " + new Date().toLocaleTimeString() + ".";
      setTimeout(load, 5000);
    };
    load();
  };

  if (pages[page]) pages[page]();
})();
