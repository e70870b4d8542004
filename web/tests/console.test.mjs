// Browser tests of the Wardgate console against a real `wardgate run` (started by
// scripts/test-console): Debian's chromium, headless, driven by playwright-core.
// Ends with `console: N passed, M failed`; exits non-zero on any failure.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import crypto from "node:crypto";

const BASE = process.env.WARDGATE_URL;
const ART = process.env.WARDGATE_CONSOLE_ARTIFACTS || "artifacts";
const FACES = process.env.WARDGATE_FACES;
const DOOR = process.env.WARDGATE_DOOR || "door-1";
const USERS = {
  admin: { name: "admin", password: process.env.WARDGATE_ADMIN_PASSWORD },
  tech: { name: "tech", password: process.env.WARDGATE_TECH_PASSWORD },
};
const PAGES = ["live", "door", "events", "enrolment", "people", "health"];
fs.mkdirSync(ART, { recursive: true });

const results = [];
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
});

async function newPage(width) {
  const ctx = await browser.newContext({ viewport: { width, height: width < 500 ? 740 : 860 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.on("dialog", (d) => d.accept());
  page.on("pageerror", (e) => console.log(`  page error: ${e.message}`));
  return { ctx, page };
}

async function login(page, who, password) {
  await page.goto(`${BASE}/console/login`);
  await page.fill('input[name="name"]', who);
  await page.fill('input[name="password"]', password);
  const [resp] = await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  return resp;
}

// The same API call the page's own script would make, with the session's CSRF token or without.
async function pageFetch(page, method, url, body, withCsrf = true) {
  return page.evaluate(async ({ method, url, body, withCsrf }) => {
    const headers = { "Content-Type": "application/json" };
    if (withCsrf) headers["X-CSRF-Token"] = document.querySelector('meta[name="csrf-token"]').content;
    const r = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
    let data = null;
    try { data = await r.json(); } catch (e) { /* empty */ }
    return { status: r.status, data };
  }, { method, url, body, withCsrf });
}

// RFC 6238 TOTP (HMAC-SHA-1, 6 digits, 30 s) from a base32 secret, as an authenticator app makes it.
function totp(secretB32, unixSecs) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secretB32.replace(/[\s=]/g, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSecs / 30)));
  const h = crypto.createHmac("sha1", key).update(counter).digest();
  const off = h[19] & 0x0f;
  return String((h.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, "0");
}

const tech = await newPage(1280);
const admin = await newPage(1280);

await check("wrong password is refused", async () => {
  const resp = await login(tech.page, "tech", "not-the-password");
  assert(resp.status() === 401, `status ${resp.status()}`);
  const msg = await tech.page.textContent("#login-error");
  assert(/wrong name or password/i.test(msg), `message: ${msg}`);
  assert(tech.page.url().endsWith("/console/login"), tech.page.url());
});

await check("technician logs in", async () => {
  await login(tech.page, USERS.tech.name, USERS.tech.password);
  assert(tech.page.url().endsWith("/console/live"), `landed on ${tech.page.url()}`);
  const cookies = await tech.ctx.cookies();
  const c = cookies.find((x) => x.name === "wg_session");
  assert(c && c.httpOnly && c.sameSite === "Strict", `cookie ${JSON.stringify(c)}`);
});

await check("the failed login appears in Events", async () => {
  await tech.page.goto(`${BASE}/console/events`);
  await tech.page.selectOption('select[name="kind"]', "login");
  await tech.page.click('#filters button[type="submit"]');
  const row = tech.page.locator('#event-rows tr[data-reason="login_failed"]').first();
  await row.waitFor({ timeout: 10000 });
  const text = await row.textContent();
  assert(/tech/.test(text) && /wrong name or password/.test(text), `row: ${text}`);
});

await check("Live shows camera frames with a face box", async () => {
  await tech.page.goto(`${BASE}/console/live`);
  await tech.page.waitForFunction(() => { const i = document.querySelector("#cam"); return i && i.naturalWidth > 0; }, null, { timeout: 30000 });
  await tech.page.locator("#boxes .facebox").first().waitFor({ timeout: 30000 });
  // The overlay is redrawn four times a second (new elements each time), so the box found may
  // be replaced before it is measured: measure the current one, a few times if need be.
  let box = null;
  for (let i = 0; i < 20 && !box; i++) {
    box = await tech.page.locator("#boxes .facebox").first().boundingBox({ timeout: 1000 }).catch(() => null);
    if (!box) await tech.page.waitForTimeout(100);
  }
  const img = await tech.page.locator("#cam").boundingBox();
  assert(box && box.width > 10 && box.x >= img.x - 2 && box.x + box.width <= img.x + img.width + 2, `box ${JSON.stringify(box)} img ${JSON.stringify(img)}`);
  await tech.page.waitForFunction(() => /\d/.test(document.querySelector("#timing-info").textContent), null, { timeout: 10000 });
});

await check("a test pulse from Door shows in the door's state and in Events", async () => {
  await tech.page.goto(`${BASE}/console/door`);
  await tech.page.waitForFunction(() => document.querySelector("#door-state").textContent !== "…", null, { timeout: 10000 });
  await tech.page.click('button[data-cmd="pulse"]');
  await tech.page.waitForFunction(() => /Done: Test pulse/.test(document.querySelector("#flash").textContent), null, { timeout: 10000 });
  // The simulated door, as the API reports it: unlocked by the pulse (or locked again after it).
  const r = await pageFetch(tech.page, "GET", `/api/v1/doors/${DOOR}`);
  assert(r.status === 200 && r.data.state, JSON.stringify(r));
  await tech.page.goto(`${BASE}/console/events`);
  const cmd = tech.page.locator('#event-rows tr[data-reason="pulse"]').first();
  await cmd.waitFor({ timeout: 10000 });
  assert(/tech/.test(await cmd.textContent()), await cmd.textContent());
  const unlock = tech.page.locator('#event-rows tr[data-reason="lock_changed"]').first();
  await unlock.waitFor({ timeout: 10000 });
  await unlock.click();
  const details = await tech.page.textContent("#detail-list");
  assert(/pulse/.test(details), `lock_changed details: ${details}`);
  await tech.page.keyboard.press("Escape");
});

await check("a technician cannot open People and access, and the API refuses the same action", async () => {
  const resp = await tech.page.goto(`${BASE}/console/people`);
  assert(resp.status() === 403, `page status ${resp.status()}`);
  assert(/admins only/.test(await tech.page.textContent("#message")), "message");
  assert(!(await tech.page.locator('nav a[href="/console/people"]').count()), "People in a technician's menu");
  const r = await pageFetch(tech.page, "POST", "/api/v1/grants", { staff_id: "x", door_id: DOOR });
  assert(r.status === 403 && r.data.status === 403, JSON.stringify(r));
  const u = await pageFetch(tech.page, "GET", "/api/v1/users");
  assert(u.status === 403, JSON.stringify(u));
});

await check("CSRF: state-changing requests without the token are refused", async () => {
  await tech.page.goto(`${BASE}/console/door`);
  const r = await pageFetch(tech.page, "POST", `/api/v1/doors/${DOOR}/commands`, { command: "pulse" }, false);
  assert(r.status === 403 && /CSRF/i.test(r.data.detail), JSON.stringify(r));
  // A plain form post (as another page would send it) without the csrf field.
  const resp = await tech.ctx.request.post(`${BASE}/console/logout`, { form: { x: "1" }, maxRedirects: 0 });
  assert(resp.status() === 403, `logout without token: ${resp.status()}`);
  // Still logged in: the refused post did nothing.
  const again = await tech.page.goto(`${BASE}/console/health`);
  assert(again.status() === 200 && tech.page.url().endsWith("/console/health"), tech.page.url());
});

await check("admin logs in and sees every page", async () => {
  await login(admin.page, USERS.admin.name, USERS.admin.password);
  for (const p of PAGES) {
    assert(await admin.page.locator(`nav a[href="/console/${p}"]`).count() === 1, `nav ${p}`);
  }
});

await check("enrolment asks for consent, then an uploaded fixture photo adds a template; a non-image shows a clear error", async () => {
  const page = admin.page;
  await page.goto(`${BASE}/console/enrolment`);
  await page.click("details summary");
  await page.fill('#new-person input[name="name"]', "Dr Test Obama");
  await page.fill('#new-person input[name="external_id"]', "T-100");
  await page.selectOption('#new-person select[name="role"]', "doctor");
  await page.click('#new-person button[type="submit"]');
  await page.waitForFunction(() => !document.querySelector("#enrol-panel").hidden, null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelector("#templates").dataset.count === "0", null, { timeout: 10000 });
  // No consent yet: the upload is refused, saying why.
  await page.waitForFunction(() => document.querySelector("#consent-status").dataset.stands === "false", null, { timeout: 10000 });
  await page.setInputFiles("#photo", path.join(FACES, "people/Barack_Obama/obama1.jpg"));
  await page.click('#upload button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#upload-result").classList.contains("error"), null, { timeout: 10000 });
  const refused = await page.textContent("#upload-result");
  assert(/consent/.test(refused), refused);
  assert(await page.locator("#templates").getAttribute("data-count") === "0", "a template without consent");
  // Consent recorded on the page; then the same photo is enrolled.
  await page.fill('#consent input[name="document"]', "FR-01 v3");
  await page.click('#consent button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#consent-status").dataset.stands === "true", null, { timeout: 10000 });
  const status = await page.textContent("#consent-status");
  assert(/FR-01 v3/.test(status) && /user:admin|admin/.test(status), status);
  await page.setInputFiles("#photo", path.join(FACES, "people/Barack_Obama/obama1.jpg"));
  await page.click('#upload button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#templates").dataset.count === "1", null, { timeout: 30000 });
  assert(/template added/.test(await page.textContent("#upload-result")), await page.textContent("#upload-result"));
  const txt = path.join(os.tmpdir(), `not-a-photo-${process.pid}.txt`);
  fs.writeFileSync(txt, "this is not a photo\n");
  await page.setInputFiles("#photo", txt);
  await page.click('#upload button[type="submit"]');
  await page.waitForFunction(() => document.querySelector("#upload-result").classList.contains("error"), null, { timeout: 10000 });
  const msg = await page.textContent("#upload-result");
  assert(/not a JPEG or PNG photo/.test(msg), msg);
  assert(await page.locator("#templates").getAttribute("data-count") === "1", "template count changed");
});

await check("enrolment captures from the replay camera once the quality gate says good", async () => {
  const page = admin.page;
  // The person created above is still picked on this page; pick them again after a reload.
  await page.goto(`${BASE}/console/enrolment`);
  await page.fill("#person-search", "T-100");
  await page.locator("#person-results li").first().click();
  await page.waitForFunction(() => document.querySelector("#templates").dataset.count === "1", null, { timeout: 10000 });
  // The live quality feedback follows the door loop (face size, sharpness, pose, exposure).
  await page.waitForFunction(() => /Good: ready to capture/.test(document.querySelector("#quality").textContent), null, { timeout: 30000 });
  let added = false;
  for (let i = 0; i < 5 && !added; i++) {
    await page.click("#capture");
    added = await page.waitForFunction(() => document.querySelector("#templates").dataset.count === "2", null, { timeout: 5000 }).then(() => true, () => false);
    if (!added) console.log(`  capture ${i + 1} refused: ${await page.textContent("#flash")}`);
  }
  assert(added, "no template from the camera");
  assert(/Template added from the camera/.test(await page.textContent("#flash")), await page.textContent("#flash"));
});

await check("a camera decision opens its details with the per-frame stage timings", async () => {
  const page = admin.page;
  // The enrolled doctor is in front of the replay camera and has no grant for this door.
  await page.goto(`${BASE}/console/events`);
  await page.selectOption('select[name="kind"]', "decision");
  let row = null;
  for (let i = 0; i < 30 && !row; i++) {
    await page.click('#filters button[type="submit"]');
    await page.waitForTimeout(1000);
    const r = page.locator('#event-rows tr[data-kind="decision"]', { hasText: "Dr Test Obama" }).first();
    if (await r.count()) row = r;
  }
  assert(row, "no decision event");
  assert(/Dr Test Obama/.test(await row.textContent()), await row.textContent());
  await row.click();
  const frames = page.locator("#detail-list table.frames tbody tr");
  await frames.first().waitFor({ timeout: 5000 });
  assert(await frames.count() >= 2, `${await frames.count()} frames`);
  const cells = await frames.first().locator("td").allTextContents();
  // track, frame, detect, mesh, align, embed, match
  assert(cells.length === 7 && cells.slice(2).every((c) => /^\d+\.\d$/.test(c)), JSON.stringify(cells));
  assert(Number(cells[2]) > 0 && Number(cells[5]) > 0, `detect and embed take time: ${cells}`);
  const text = await page.textContent("#detail-list");
  assert(/channel\s*camera/.test(text) && !/embedding/.test(text), text);
  await page.screenshot({ path: path.join(ART, "event-details-1280.png") });
  await page.keyboard.press("Escape");
});

await check("the door display shows the challenge arrow, fills it with guidance, then the denial in words; a wrong token shows it is not connected", async () => {
  // The enrolled doctor's photos in front of the replay camera cannot turn their head: the
  // door challenges the recognised face and, the step timing out, denies it.
  const made = await pageFetch(admin.page, "POST", "/api/v1/tokens", { label: "door screen", role: "display" });
  assert(made.status === 201 && /^wg_/.test(made.data.token), JSON.stringify(made));
  const { ctx, page } = await newPage(800);
  await page.goto(`${BASE}/door-display#token=${made.data.token}`);
  assert(!page.url().includes("token"), `token left in the address: ${page.url()}`);
  await page.waitForFunction(() => document.body.dataset.state === "challenge", null, { timeout: 60000 });
  const direction = await page.getAttribute("#arrow", "data-direction");
  const arrow = await page.textContent("#arrow");
  const headline = await page.textContent("#headline");
  assert(["left", "right", "up", "down"].includes(direction), `direction ${direction}`);
  assert({ left: "←", right: "→", up: "↑", down: "↓" }[direction] === arrow, `arrow ${arrow} for ${direction}`);
  assert(headline.includes(direction.toUpperCase()), headline);
  assert(/Step 1 of 2/.test(await page.textContent("#steps")), await page.textContent("#steps"));
  await page.screenshot({ path: path.join(ART, "door-display-challenge.png") });
  // Guidance while a step runs: the arrow fills by quarters and the hint is said in words.
  // Rendered and read in one synchronous call, so no message of the live stream comes between.
  const guided = await page.evaluate(() => {
    render({ type: "prompt", seq: 1e9, state: "guide", step: 1, of: 2, direction: "left", filled: 3, hint: "further" });
    const seen = { state: document.body.dataset.state, filled: document.body.dataset.filled, hint: document.body.dataset.hint,
      fill: getComputedStyle(document.body).getPropertyValue("--filled").trim(), detail: document.querySelector("#detail").textContent,
      arrow: document.querySelector("#arrow").textContent };
    render({ type: "prompt", seq: 1e9 + 1, state: "guide", step: 1, of: 2, direction: "left", filled: 0, hint: "closer" });
    seen.closer = document.querySelector("#detail").textContent;
    return seen;
  });
  assert(guided.state === "challenge" && guided.filled === "3" && guided.fill === "0.75" && guided.arrow === "←", JSON.stringify(guided));
  assert(guided.hint === "further" && /A little further/.test(guided.detail), JSON.stringify(guided));
  assert(/come closer/.test(guided.closer), JSON.stringify(guided));
  await page.waitForFunction(() => document.body.dataset.state === "denied", null, { timeout: 30000 });
  const detail = await page.textContent("#detail");
  assert(/Access denied/.test(await page.textContent("#headline")), await page.textContent("#headline"));
  // Usually the step times out; a switch between two photos can also read as a wrong turn, or
  // (without a grant) pass and be refused by the policy. Each is said in words, never as a code.
  assert(/No movement seen in time|movement did not match|no access to this door/.test(detail), detail);
  assert(!/Obama|T-100|similar/i.test(await page.textContent("body")), "the corridor screen must not name anyone");
  await page.screenshot({ path: path.join(ART, "door-display-denied.png") });
  // The technician's Live page follows the same stream.
  await tech.page.goto(`${BASE}/console/live`);
  await tech.page.waitForFunction(() => ["looking", "challenge", "step_passed", "decided"].includes(document.querySelector("#door-prompt").dataset.state),
    null, { timeout: 60000 });
  // A screen with a revoked or made-up token does not show the door's prompts.
  await page.evaluate(() => localStorage.clear());
  await page.goto("about:blank");
  await page.goto(`${BASE}/door-display#token=wg_not-a-real-token`);
  await page.waitForFunction(() => document.body.dataset.state === "offline", null, { timeout: 10000 });
  await page.waitForTimeout(2500);
  assert(await page.getAttribute("body", "data-state") === "offline", "a wrong token got a prompt");
  await ctx.close();
});

await check("an admin breaks glass from Door with a reason: the door unlocks, the alarm shows, the report lists who and why", async () => {
  const page = admin.page;
  await page.goto(`${BASE}/console/door`);
  await page.waitForFunction(() => document.querySelector("#door-state").textContent !== "…", null, { timeout: 10000 });
  // Without a reason nothing is sent.
  await page.click('button[data-cmd="break_glass"]');
  await page.waitForFunction(() => /Say why/.test(document.querySelector("#flash").textContent), null, { timeout: 5000 });
  const why = "resuscitation team locked out " + crypto.randomBytes(3).toString("hex");
  await page.fill("#break-glass-reason", why);
  await page.click('button[data-cmd="break_glass"]');
  await page.waitForFunction(() => /Done: Break glass/.test(document.querySelector("#flash").textContent), null, { timeout: 10000 });
  await page.waitForFunction(() => /break glass since/.test(document.querySelector("#door-alarms").textContent), null, { timeout: 10000 });
  const row = page.locator('#break-glass-rows tr[data-source="command"]').first();
  await row.waitFor({ timeout: 10000 });
  assert((await row.textContent()).includes(why), await row.textContent());
  const r = await pageFetch(page, "GET", "/api/v1/break-glass");
  const ep = r.data.episodes.find((e) => e.reason === why);
  assert(ep && ep.role === "admin" && ep.source === "command", JSON.stringify(r.data));
  // Back to normal for what follows: lockdown ends it, then release and acknowledge.
  for (const command of ["lockdown", "release_lockdown", "ack_alarm"]) {
    const c = await pageFetch(page, "POST", `/api/v1/doors/${DOOR}/commands`, { command });
    assert(c.status === 200, JSON.stringify(c));
  }
  await page.screenshot({ path: path.join(ART, "console-break-glass.png") });
});

await check("People opens the access report of a person, and printing prints the report alone", async () => {
  const page = admin.page;
  await page.goto(`${BASE}/console/people`);
  await page.fill("#people-search", "T-100");
  const row = page.locator("#people-rows tr").first();
  await row.waitFor({ timeout: 10000 });
  await row.click();
  await page.click("#report-open");
  await page.waitForFunction(() => !document.querySelector("#report-panel").hidden, null, { timeout: 10000 });
  const text = await page.textContent("#report-panel");
  for (const want of ["Dr Test Obama", "T-100", "FR-01 v3"]) assert(text.includes(want), `report lacks ${want}: ${text}`);
  assert(await page.locator("#report-templates tr td").first().textContent() !== "none", "no template in the report");
  await page.emulateMedia({ media: "print" });
  const shown = await page.evaluate(() => [getComputedStyle(document.querySelector(".top")).display, getComputedStyle(document.querySelector("#report-panel")).display,
    getComputedStyle(document.querySelector("#grants-panel")).display]);
  await page.screenshot({ path: path.join(ART, "console-access-report-print.png"), fullPage: true });
  await page.emulateMedia({ media: "screen" });
  assert(shown[0] === "none" && shown[1] !== "none" && shown[2] === "none", `print shows ${JSON.stringify(shown)}`);
});

await check("Health shows the change lag, the HTTPS certificate's fingerprint (as openssl computes it) and the matching threshold in force", async () => {
  const page = admin.page;
  await page.goto(`${BASE}/console/health`);
  await page.waitForFunction(() => /change lag/.test(document.querySelector("#health").textContent), null, { timeout: 10000 });
  const text = await page.textContent("#health");
  const lag = /change lag\s*(\d+) ms/.exec(text);
  assert(lag && Number(lag[1]) < 5000, `change lag: ${text}`);
  const fp = process.env.WARDGATE_TLS_FINGERPRINT;
  assert(fp && /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(fp), `openssl fingerprint: ${fp}`);
  assert(text.includes(fp), `TLS row lacks ${fp}: ${text}`);
  // The operating point in force, with its reason in words.
  assert(/matching threshold\s*0\.\d{3} \((target_fpir|floor|fixed|uncalibrated), \d+ templates\)/.test(text), `matching row: ${text}`);
  assert(/why\s*threshold 0\.\d{3}/.test(text), `matching explanation: ${text}`);
});

await check("over HTTPS the console works and its session cookie is Secure", async () => {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  const TLS = process.env.WARDGATE_TLS_URL;
  await page.goto(`${TLS}/console/login`);
  await page.fill('input[name="name"]', USERS.tech.name);
  await page.fill('input[name="password"]', USERS.tech.password);
  await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
  const cookies = await ctx.cookies(TLS);
  const session = cookies.find((c) => c.name === "wg_session");
  assert(session && session.secure && session.httpOnly && session.sameSite === "Strict", JSON.stringify(cookies));
  const r = await pageFetch(page, "GET", "/api/v1/status");
  assert(r.status === 200 && r.data.tls && r.data.tls.fingerprint_sha256 === process.env.WARDGATE_TLS_FINGERPRINT, JSON.stringify(r.data && r.data.tls));
  await ctx.close();
});

await check("an admin sets up a TOTP second factor; login then asks for the code", async () => {
  const pw = "second-factor-" + crypto.randomBytes(6).toString("hex");
  const made = await pageFetch(admin.page, "POST", "/api/v1/users", { name: "admin2fa", role: "admin", password: pw });
  assert(made.status === 201 && made.data.totp === false, JSON.stringify(made));
  const { ctx, page } = await newPage(360);
  await login(page, "admin2fa", pw);
  assert(page.url().endsWith("/console/live"), page.url());
  await page.goto(`${BASE}/console/people`);
  await page.waitForFunction(() => /Off/.test(document.querySelector("#totp-state").textContent), null, { timeout: 10000 });
  await page.click("#totp-start");
  await page.waitForFunction(() => document.querySelector("#totp-secret").textContent.length === 32, null, { timeout: 10000 });
  const secret = await page.textContent("#totp-secret");
  assert((await page.getAttribute("#totp-uri", "href")).startsWith("otpauth://totp/Wardgate:admin2fa"), "otpauth URI");
  const now = () => Math.floor(Date.now() / 1000);
  await page.fill("#totp-code", totp(secret, now()));
  await page.click('#totp-confirm button[type="submit"]');
  await page.waitForFunction(() => /Second factor on/.test(document.querySelector("#flash").textContent), null, { timeout: 10000 });
  await page.waitForFunction(() => /On:/.test(document.querySelector("#totp-state").textContent), null, { timeout: 10000 });
  await Promise.all([page.waitForNavigation(), page.click("form.who button")]);

  // The password alone now answers with the code form; a wrong code is refused and audited.
  await login(page, "admin2fa", pw);
  assert(await page.locator('#code-form input[name="code"]').count() === 1, "no code form");
  await page.screenshot({ path: path.join(ART, "login-code-360.png"), fullPage: true });
  const right = totp(secret, now() + 30);
  const wrong = String((Number(right) + 500000) % 1000000).padStart(6, "0");
  await page.fill('input[name="code"]', wrong);
  const [bad] = await Promise.all([page.waitForNavigation(), page.click('#code-form button[type="submit"]')]);
  assert(bad.status() === 401 && /Wrong or expired code/.test(await page.textContent("#login-error")), `wrong code: ${bad.status()}`);
  // With the right code (the next step's: accepted one step early, never used before) it logs in.
  await login(page, "admin2fa", pw);
  await page.fill('input[name="code"]', right);
  await Promise.all([page.waitForNavigation(), page.click('#code-form button[type="submit"]')]);
  assert(page.url().endsWith("/console/live"), `after the code: ${page.url()}`);
  await ctx.close();
  const ev = await pageFetch(admin.page, "GET", "/api/v1/events?kind=login&limit=50");
  assert(ev.data.items.some((e) => e.reason === "login_code_failed" && e.details.user === "admin2fa"), "login_code_failed not audited");
  assert(!JSON.stringify(ev.data).includes(secret), "the secret is never in an event");
});

await check("screenshots of every page at 360 px and 1280 px", async () => {
  const shots = [];
  for (const width of [360, 1280]) {
    const { ctx, page } = await newPage(width);
    await login(page, USERS.admin.name, USERS.admin.password);
    for (const p of PAGES) {
      await page.goto(`${BASE}/console/${p}`);
      await page.waitForTimeout(p === "live" ? 2500 : 1200);
      const file = path.join(ART, `${p}-${width}.png`);
      await page.screenshot({ path: file, fullPage: true });
      shots.push(file);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 1, `${p} at ${width} px scrolls sideways by ${overflow} px`);
    }
    await page.goto(`${BASE}/console/login`);
    await ctx.close();
  }
  const { ctx, page } = await newPage(360);
  await page.goto(`${BASE}/console/login`);
  await page.screenshot({ path: path.join(ART, "login-360.png"), fullPage: true });
  await ctx.close();
  assert(shots.length === 12, `${shots.length} screenshots`);
});

await check("page weight ≤ 100 KB of assets; first render measured", async () => {
  const rows = [];
  const { ctx, page } = await newPage(1280);
  await login(page, USERS.admin.name, USERS.admin.password);
  for (const p of PAGES) {
    // Cold: a fresh load with the HTTP cache disabled, so every asset is counted.
    const cdp = await ctx.newCDPSession(page);
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    await page.goto(`${BASE}/console/${p}`, { waitUntil: "load" });
    await page.waitForTimeout(300);
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const fcp = performance.getEntriesByName("first-contentful-paint")[0];
      const assets = performance.getEntriesByType("resource").filter((r) => !r.name.includes("/api/") && !r.name.includes("/ws/"));
      const bytes = assets.reduce((s, r) => s + (r.transferSize || r.encodedBodySize || 0), nav.transferSize || nav.encodedBodySize || 0);
      return { html: nav.transferSize || nav.encodedBodySize, assets: assets.length, bytes, fcp: fcp ? fcp.startTime : null, dcl: nav.domContentLoadedEventEnd };
    });
    rows.push({ page: p, ...m });
    await cdp.detach();
  }
  await ctx.close();
  fs.writeFileSync(path.join(ART, "page-weight.json"), JSON.stringify(rows, null, 2));
  for (const r of rows) console.log(`  ${r.page.padEnd(10)} ${(r.bytes / 1024).toFixed(1)} KB (${r.assets + 1} files), first contentful paint ${r.fcp == null ? "n/a" : r.fcp.toFixed(0) + " ms"}, DOMContentLoaded ${r.dcl.toFixed(0)} ms`);
  for (const r of rows) assert(r.bytes <= 100 * 1024, `${r.page}: ${r.bytes} bytes of assets`);
});

await check("logout ends the session", async () => {
  await admin.page.goto(`${BASE}/console/health`);
  await Promise.all([admin.page.waitForNavigation(), admin.page.click("form.who button")]);
  assert(admin.page.url().endsWith("/console/login"), admin.page.url());
  const resp = await admin.page.goto(`${BASE}/console/people`);
  assert(admin.page.url().endsWith("/console/login"), `after logout: ${admin.page.url()} ${resp.status()}`);
});

await browser.close();
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`console: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
