// The door display: shows what the door asks of the person in front of it (the liveness
// challenge) and what it decided, from the /ws/presentation stream. Runs in a kiosk browser
// on the screen beside the door: open /door-display#token=wg_… once (a `display` token); the
// token is kept in this browser's storage and removed from the address.
"use strict";

const ARROWS = { left: "←", right: "→", up: "↑", down: "↓" };
const WORDS = { left: "LEFT", right: "RIGHT", up: "UP", down: "DOWN" };
// What the door says when a step is stuck on something the person can fix.
const HINTS = {
  further: "A little further",
  closer: "Please come closer",
  face_camera: "Look back at the camera",
};
// How long a decision stays on screen before the display returns to its resting state.
const DECIDED_HOLD_MS = 5000;

function token() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    const t = decodeURIComponent(m[1]);
    try { localStorage.setItem("wardgate-display-token", t); } catch (_) { /* private mode */ }
    history.replaceState(null, "", location.pathname);
    return t;
  }
  try { return localStorage.getItem("wardgate-display-token") || ""; } catch (_) { return ""; }
}

function show(state, headline, detail, arrow, steps, filled) {
  document.body.dataset.state = state;
  // The arrow fills in quarters as the head turns towards what the step needs.
  document.body.style.setProperty("--filled", String((filled || 0) / 4));
  document.body.dataset.filled = String(filled || 0);
  document.getElementById("headline").textContent = headline;
  document.getElementById("detail").textContent = detail || "";
  const a = document.getElementById("arrow");
  a.textContent = arrow ? ARROWS[arrow] || "" : "";
  a.dataset.direction = arrow || "";
  document.getElementById("steps").textContent = steps || "";
}

function resting() {
  show("idle", "Look at the camera", "to open the door");
}

let holdTimer = null;

function render(p) {
  clearTimeout(holdTimer);
  document.body.dataset.hint = "";
  switch (p.state) {
    case "idle":
      resting();
      break;
    case "looking":
      show("looking", "Look at the camera", "Hold still for a moment");
      break;
    case "challenge":
      show("challenge", `Turn your head to the ${WORDS[p.direction] || p.direction}`,
        "then look back at the camera", p.direction, `Step ${p.step} of ${p.of}`);
      break;
    case "guide":
      show("challenge", `Turn your head to the ${WORDS[p.direction] || p.direction}`,
        HINTS[p.hint] || "then look back at the camera", p.direction,
        `Step ${p.step} of ${p.of}`, p.filled);
      document.body.dataset.hint = p.hint || "";
      return;
    case "step_passed":
      show("step_passed", "Good", "Look back at the camera", null, `Step ${p.step} done`);
      break;
    case "decided":
      show(p.granted ? "granted" : "denied", p.granted ? "Welcome" : "Access denied",
        p.message || p.reason);
      holdTimer = setTimeout(resting, DECIDED_HOLD_MS);
      break;
    default:
      break;
  }
}

function connect(t, failures) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const q = t ? `?access_token=${encodeURIComponent(t)}` : "";
  const ws = new WebSocket(`${proto}//${location.host}/ws/presentation${q}`);
  let opened = false;
  ws.onopen = () => { opened = true; };
  ws.onmessage = (m) => {
    try { render(JSON.parse(m.data)); } catch (_) { /* not a prompt */ }
  };
  ws.onclose = () => {
    const n = opened ? 0 : failures + 1;
    show("offline", "Not connected",
      !t && n > 1 ? "This display has no token: open /door-display#token=… once" :
        "Please use the door's other entry or call the ward staff");
    // Back off up to 30 s; a controller restart reconnects within seconds.
    setTimeout(() => connect(t, n), Math.min(30000, 1000 * 2 ** Math.min(n, 5)));
  };
}

document.addEventListener("DOMContentLoaded", () => connect(token(), 0));
