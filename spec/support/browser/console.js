// Drives the server console (GET /_console) in headless Chromium for
// spec/server_console_browser_spec.lua, through playwright-core (the
// driver alone, never a downloaded browser: Debian's /usr/bin/chromium).
//
//   node console.js   (everything comes from the environment)
//
//   XRT_PREFIX      folder holding node_modules/playwright-core
//   XRT_CHROMIUM    the browser (default /usr/bin/chromium)
//   XRT_URL         the console's URL
//   XRT_KEY         the admin key, typed into the login form
//   XRT_SOCKETS     the two socketIds the page must list, comma-separated
//   XRT_CHANNEL     the channel the page must show with both as members
//   XRT_MESSAGE     a text the log must show (in a message's preview)
//   XRT_EVENT       the JSON data typed into the "send event" form
//   XRT_SCREENSHOT  where the PNG goes
//   XRT_FILTER_CHANNEL  a channel to filter the log by
//
// After the screenshot it prints the step "paused" and waits for one new
// log line (the spec sends a message "while paused"), which must be held
// until the page resumes.
//
// Prints one JSON line per step ({"step": ..., ...}); the last line is
// {"ok": true} or {"ok": false, "error": ...}; exits 0 only on success.
// Anything the page logs as an error (a script error, a refused
// resource, a Content-Security-Policy violation) fails the run.
"use strict";

const path = require("path");
const env = process.env;
const { chromium } = require(path.join(env.XRT_PREFIX, "node_modules", "playwright-core"));

const STEP_MS = 15000;
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

async function main() {
  const problems = [];
  let watching = false;	// the 401 of the login page is expected
  const profile = require("fs").mkdtempSync(path.join(require("os").tmpdir(), "xrt-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env.XRT_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // this machine's network is closed: no background connections, no QUIC
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
    timeout: 30000,
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => {
      if (watching && m.type() === "error") problems.push("console: " + m.text());
    });

    // 1. without the key: the login form, status 401
    const first = await page.goto(env.XRT_URL);
    say({ step: "login page", status: first.status() });
    if (first.status() !== 401) throw new Error("expected 401 before login, got " + first.status());
    await page.fill("#login-key", env.XRT_KEY);
    await Promise.all([page.waitForNavigation(), page.click("#login-form button")]);
    await page.waitForSelector("#console-view:not(.hidden)");
    watching = true;
    const cookies = await context.cookies();
    const c = cookies.find((k) => k.name === "xrt_console");
    say({ step: "logged in", httpOnly: c && c.httpOnly, sameSite: c && c.sameSite,
      scriptSeesCookie: await page.evaluate(() => document.cookie.includes("xrt_console")) });

    // 2. the live state: both sockets, the channel with two members
    const socks = env.XRT_SOCKETS.split(",");
    for (const sid of socks) {
      await page.waitForSelector(`#sockets tr[data-socket="${sid}"]`);
    }
    const channel = env.XRT_CHANNEL;
    await page.waitForFunction((name) => {
      const tr = [...document.querySelectorAll("#channels tr[data-channel]")]
        .find((r) => r.getAttribute("data-channel") === name);
      return tr && tr.querySelector("td.members").textContent === "2";
    }, channel);
    const rows = await page.$$eval("#sockets tbody tr", (trs) => trs.map((tr) => ({
      socketId: tr.getAttribute("data-socket"),
      identity: tr.cells[1].textContent, channels: tr.cells[3].textContent })));
    say({ step: "state", sockets: rows });

    // 3. the log shows the message
    await page.waitForFunction((text) =>
      [...document.querySelectorAll('#log .line[data-kind="message"]')]
        .some((l) => l.textContent.includes(text)), env.XRT_MESSAGE);
    say({ step: "message in the log" });

    // 4. the "send event" form
    await page.fill('#event-form input[name="channel"]', channel);
    await page.fill('#event-form textarea[name="data"]', env.XRT_EVENT);
    await page.click("#event-form button");
    await page.waitForFunction(() =>
      document.getElementById("event-result").textContent.startsWith("event delivered to"));
    const result = await page.textContent("#event-result");
    await page.waitForSelector('#log .line[data-kind="event"]');
    say({ step: "event sent", result });

    await page.screenshot({ path: env.XRT_SCREENSHOT, fullPage: true });
    say({ step: "screenshot", path: env.XRT_SCREENSHOT });

    // 5. filters: by channel, by socket (sender or private target)
    const shown = () => page.$$eval("#log .line", (ls) => ls.map((l) => ({
      kind: l.getAttribute("data-kind"), channel: l.querySelector(".c").textContent,
      who: l.querySelector(".s").title })));
    await page.selectOption("#filter-channel", env.XRT_FILTER_CHANNEL);
    const byChannel = await shown();
    await page.selectOption("#filter-channel", "");
    await page.selectOption("#filter-socket", socks[1]);
    const bySocket = await shown();
    await page.selectOption("#filter-socket", "");
    say({ step: "filters", byChannel, bySocket, all: (await shown()).length });

    // 6. pause: new lines are held, not shown, until resumed
    await page.click("#pause");
    say({ step: "paused" });
    await page.waitForFunction(() => document.getElementById("held").textContent === "1");
    const whilePaused = await page.$$eval("#log .line", (ls) => ls.some((l) => l.textContent.includes("while paused")));
    await page.click("#pause");
    await page.waitForFunction(() => [...document.querySelectorAll("#log .line")]
      .some((l) => l.textContent.includes("while paused")));
    say({ step: "resumed", shownWhilePaused: whilePaused });
    if (problems.length) throw new Error(problems.join("; "));
    say({ ok: true });
  } finally {
    await context.close();
    require("fs").rmSync(profile, { recursive: true, force: true });
  }
}

const timer = setTimeout(() => { say({ ok: false, error: "timed out after 90 s" }); process.exit(3); }, 90000);
main().then(() => { clearTimeout(timer); process.exit(0); },
  (e) => { say({ ok: false, error: String(e && e.stack || e) }); process.exit(1); });
