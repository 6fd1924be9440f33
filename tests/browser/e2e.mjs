// End-to-end tests of the browser page (page/) in a real Chromium, against the release build in
// workerd: passkeys through Chrome's virtual authenticator, the e-mail link, notes, the session
// cookie, sessions, CORS and CSRF from other origins, and screenshots of the main screens.
//
// Usage: node tests/browser/e2e.mjs   (`make e2e`, and the `browser` stage of `make test`)
//
// Chromium is Debian's (scripts/setup.sh), driven by npm's playwright-core through
// executablePath: nothing is downloaded. The page is opened at http://localhost:<port>, never
// 127.0.0.1, because a WebAuthn RP ID cannot be an IP address; localhost is a secure context,
// so the __Host- cookie and passkeys work over plain HTTP.
//
// The passkey and e-mail-link tests are declared with needs(PASSKEYS) / needs(EMAIL_LINK): a
// probe before the tests asks the Worker for those routes, and a Worker that answers 404 (a
// build without them, or e-mail links turned off) skips them with the reason printed. Other
// tests then sign up with a password through the page instead of a passkey.
//
// Artefacts: target/screenshots/*.png, and the Worker's console in target/e2e/worker.log.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { connect, createServer as createTcpServer } from "node:net";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
const screenshots = join(root, "target/screenshots");
const workDir = join(root, "target/e2e");
const workerLog = join(workDir, "worker.log");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const COOKIE = "__Host-session";
const PASSWORD = "correct horse battery staple";
const IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) " +
  "Version/18.5 Mobile/15E148 Safari/604.1";

for (const dir of [workDir, screenshots]) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

/* ------------------------------------------------------------------ the Worker and the browser */

/** A port nobody listens on now (the OS picks it; closed again before use). */
async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * Starts tests/support/serve.mjs in the test environment on `port`, the page's origin being
 * http://localhost:<port>; resolves when it prints its URL.
 */
async function startWorker(port, { vars = {}, log = workerLog } = {}) {
  // The test environment's own settings, as `make dev` has them: the page's origin is not on
  // ALLOWED_ORIGINS (the CSRF check accepts the origin a request reached), the RP ID defaults
  // to localhost, and outside production any http://localhost:<port> may run ceremonies.
  const allVars = { ...vars };
  const child = spawn(
    process.execPath,
    ["tests/support/serve.mjs", "--env", "test", "--port", String(port), "--log", log, "--quiet",
      "--vars", JSON.stringify(allVars)],
    { cwd: root, stdio: ["pipe", "pipe", "inherit"] },
  );
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the Worker did not start within 60 s")), 60_000);
    child.once("exit", (code) => reject(new Error(`serve.mjs exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", (l) => {
      clearTimeout(timer);
      resolve(l);
    });
  });
  JSON.parse(line); // {"url": ...}: ready.
  return child;
}

const port = await freePort();
const origin = `http://localhost:${port}`;
const worker = await startWorker(port);
process.on("exit", () => worker.stdin.end());

/** True when the Worker serves `POST path` (anything but 404). */
async function serves(path, body) {
  const r = await fetch(origin + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await r.body?.cancel();
  return r.status !== 404;
}

// Their tests are skipped when these answer 404.
const PASSKEYS = await serves("/v1/auth/passkeys/login/options", {});
const EMAIL_LINK = await serves("/v1/auth/email-link/verify", { token: "probe" });
// Every test gives up after a minute rather than hang the stage.
const TIMEOUT = { timeout: 60_000 };
const needs = (available, name) => (available ? TIMEOUT : { ...TIMEOUT, skip: `${name} endpoints not served by this Worker (404)` });

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

after(async () => {
  await browser.close();
  worker.stdin.end();
});

/* ------------------------------------------------------------------ helpers */

let emails = 0;
const newEmail = (tag) => `e2e-${tag}-${Date.now().toString(36)}-${++emails}@example.test`;

/**
 * A fresh browser context (own cookies) and page, recording console errors, uncaught page
 * errors and CSP violations in `page.problems`.
 */
async function openPage({ colorScheme = "light", path = "/", userAgent, base = origin } = {}) {
  const context = await browser.newContext({ colorScheme, userAgent, viewport: { width: 1100, height: 800 } });
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") page.problems.push({ text: msg.text(), url: msg.location().url });
  });
  page.on("pageerror", (err) => page.problems.push({ text: `uncaught: ${err.message}` }));
  if (path !== null) await load(page, path, base);
  return { context, page };
}

/** Opens `path` of the page and waits until it has decided which screen to show. */
async function load(page, path = "/", base = origin) {
  const response = await page.goto(base + path);
  await page.waitForSelector("html[data-state=signed-in], html[data-state=signed-out]");
  return response;
}

const screen = (page) => page.evaluate(() => document.documentElement.dataset.state);
const waitForScreen = (page, name) => page.waitForSelector(`html[data-state=${name}]`);

/** The error the page shows, or null. */
async function shownError(page) {
  const box = page.locator("#error");
  return (await box.isVisible()) ? box.textContent() : null;
}

async function expectNoError(page) {
  assert.equal(await shownError(page), null);
}

/** Asserts that `selector` is on screen, whole, where the user is looking. */
async function inView(page, selector) {
  const box = await page.locator(selector).boundingBox();
  const { height } = page.viewportSize();
  assert.ok(box && box.y >= -1 && box.y + box.height <= height + 1, `${selector} at ${JSON.stringify(box)}, viewport height ${height}`);
}

/** Chrome's virtual authenticator on this page: a platform passkey store that always agrees. */
async function addAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    id: authenticatorId,
    credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials,
    remove: () => cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId }),
  };
}

/** Creates an account through the page's password form and signs in with it. */
async function signUpWithPassword(page, email = newEmail("pw")) {
  await page.locator("#password-panel summary").click();
  await page.fill("#password-email", email);
  await page.fill("#password", PASSWORD);
  await page.click("#password-signup");
  await waitForScreen(page, "signed-in");
  return email;
}

/** Creates an account through the page's passkey sign-up (needs an authenticator on the page). */
async function signUpWithPasskey(page, email = newEmail("pk")) {
  await page.fill("#signup-email", email);
  await page.click("#signup-button");
  await waitForScreen(page, "signed-in");
  return email;
}

/** Signs a fresh page up and in: with a passkey once the Worker has them, else a password. */
async function signUp(page) {
  if (PASSKEYS) {
    page.authenticator = await addAuthenticator(page);
    return signUpWithPasskey(page);
  }
  return signUpWithPassword(page);
}

/** Adds a note through the page's form. */
async function addNote(page, { title, body = "", tags = "" }) {
  const before = await page.locator("[data-testid=note]").count();
  await page.fill("#note-title", title);
  await page.fill("#note-body", body);
  await page.fill("#note-tags", tags);
  await page.click("#note-add");
  await page.waitForFunction((n) => document.querySelectorAll("[data-testid=note]").length > n, before);
}

/** The caller's notes as the API lists them (from the signed-in page, so with its cookie). */
const apiNoteTitles = (page) =>
  page.evaluate(async () => {
    const r = await fetch("/v1/notes?limit=100");
    return (await r.json()).items.map((n) => n.title);
  });

const noteTitles = (page) => page.locator("[data-testid=note-title]").allTextContents();

/** The latest e-mail link the Worker "sent" to `email` (other than `other`): its console line
 * {"event":"mail",...}. */
async function mailedLink(email, other = null) {
  for (let i = 0; i < 50; i++) {
    const lines = readFileSync(workerLog, "utf8").split("\n");
    for (const line of lines.reverse()) {
      const start = line.indexOf("{");
      if (start < 0 || !line.includes('"mail"')) continue;
      try {
        const entry = JSON.parse(line.slice(start));
        // Security notices carry no link.
        if (entry.event === "mail" && entry.to === email && entry.link && entry.link !== other) {
          return entry.link;
        }
      } catch {
        // Not a JSON line.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no mail to ${email} in ${workerLog}`);
}

/** A small server for another origin: serves one HTML page at every path. */
async function otherOrigin(host) {
  const server = createServer((_, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>another site</title><h1>Another site</h1>");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://${host}:${server.address().port}/`,
    close: () => {
      server.closeAllConnections(); // the browser keeps its connections alive
      return new Promise((r) => server.close(r));
    },
  };
}

/** A real sqld (tests/support/sqld.mjs) with the migrations applied: {url, token, stop}. */
async function startSqld() {
  const child = spawn(process.execPath, ["tests/support/sqld.mjs"], { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`sqld.mjs exited with ${code}`)));
    createInterface({ input: child.stdout }).once("line", resolve);
  });
  return { ...JSON.parse(line), stop: () => child.stdin.end() };
}

/**
 * A TCP relay to `target` (http://host:port) that can be cut: while it is down, every open
 * connection is reset and new ones are closed as they arrive, as when a database's network
 * goes away.
 */
async function relay(target) {
  const { hostname, port } = new URL(target);
  const open = new Set();
  let down = false;
  const server = createTcpServer((client) => {
    if (down) return client.destroy();
    const upstream = connect(Number(port), hostname);
    open.add(client);
    client.on("close", () => open.delete(client));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      down = true;
      for (const socket of open) socket.resetAndDestroy();
    },
    restore() {
      down = false;
    },
    close() {
      for (const socket of open) socket.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/* ------------------------------------------------------------------ tests */

/**
 * Gives the signed-in account a second passkey (a second authenticator, named "Laptop"; the
 * first renamed "Phone") and a second session (an iPhone through an e-mail link), where the
 * Worker serves those routes.
 */
async function furnishAccount(page) {
  const email = await page.locator("#who-email").textContent();
  let firstLink = null;
  if (EMAIL_LINK) {
    // The address is proven first: the first link removes what was set up before it (a
    // sign-up does not prove the address), so the account is furnished after it.
    await page.click("#signout");
    await waitForScreen(page, "signed-out");
    await page.fill("#link-email", email);
    await page.click("#link-button");
    await page.waitForSelector("#link-sent:not([hidden])");
    firstLink = await mailedLink(email);
    await load(page, "/" + new URL(firstLink).hash);
    await waitForScreen(page, "signed-in");
    assert.equal(await page.locator("#who-email").textContent(), email);
  }
  if (PASSKEYS) {
    const first = page.locator("[data-testid=passkey]").first();
    if (await first.count()) {
      await first.locator("[data-action=rename]").click();
      await first.locator("input[name=name]").fill("Phone");
      await first.locator("[data-action=save]").click();
    } else {
      await page.fill("#passkey-name", "Phone");
      await page.click("#passkey-add");
    }
    await page.waitForSelector("[data-testid=passkey-name]:text-is('Phone')");
    await page.authenticator.remove();
    page.authenticator = await addAuthenticator(page);
    await page.fill("#passkey-name", "Laptop");
    await page.click("#passkey-add");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=passkey]").length === 2);
  }
  if (EMAIL_LINK) {
    const phone = await openPage({ userAgent: IPHONE });
    await phone.page.fill("#link-email", email);
    await phone.page.click("#link-button");
    await phone.page.waitForSelector("#link-sent:not([hidden])");
    const tab = await phone.context.newPage();
    await load(tab, "/" + new URL(await mailedLink(email, firstLink)).hash);
    await waitForScreen(tab, "signed-in");
    await phone.context.close();
  }
  await load(page);
  // The second link proved nothing new: the account keeps what it was given.
  assert.equal(await screen(page), "signed-in");
  if (PASSKEYS) assert.equal(await page.locator("[data-testid=passkey]").count(), 2);
}

describe("the page", () => {
  test("loads under its CSP with no console errors or CSP violations", TIMEOUT, async () => {
    const { context, page } = await openPage({ path: null });
    const response = await load(page);
    assert.equal(response.status(), 200);
    assert.equal(response.headers()["content-security-policy"], CSP);
    for (const asset of ["/app.js", "/app.css"]) {
      const r = await page.request.get(origin + asset);
      assert.equal(r.status(), 200, asset);
      assert.equal(r.headers()["content-security-policy"], CSP, asset);
    }
    assert.equal(await screen(page), "signed-out");
    await expectNoError(page);
    // This Worker offers every way of signing in (`GET /v1/auth/methods`); the page shows each.
    const offered = PASSKEYS ? ["#signup-form", "#signin-form"] : [];
    if (EMAIL_LINK) offered.push("#link-form");
    for (const id of [...offered, "#password-panel"]) {
      assert.equal(await page.locator(id).isVisible(), true, id);
    }

    // Signed out, /v1/auth/me answers 401: Chromium logs that load as an error. Nothing else may.
    const unexpected = page.problems.filter(
      (p) => !(p.url === `${origin}/v1/auth/me` && /status of 401/.test(p.text)),
    );
    assert.deepEqual(unexpected, []);
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);

    // Every form control has a label.
    const unlabelled = await page.evaluate(() =>
      [...document.querySelectorAll("input, textarea")].filter((e) => e.labels.length === 0).map((e) => e.id),
    );
    assert.deepEqual(unlabelled, []);

    // Every form field's outline stands out at 3:1 or more from the card around it and from
    // the field itself (WCAG 1.4.11), in both colour schemes.
    for (const colorScheme of ["light", "dark"]) {
      await page.emulateMedia({ colorScheme });
      const faint = await page.evaluate(() => {
        const rgb = (css) => css.match(/[\d.]+/g).slice(0, 3).map(Number);
        const luminance = (css) => {
          const [r, g, b] = rgb(css).map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const ratio = (a, b) => {
          const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
          return (hi + 0.05) / (lo + 0.05);
        };
        const behind = (e) => {
          for (let n = e.parentElement; n; n = n.parentElement) {
            const bg = getComputedStyle(n).backgroundColor;
            if (!/rgba\(.*, 0\)$/.test(bg)) return bg;
          }
          return "rgb(255, 255, 255)";
        };
        return [...document.querySelectorAll("#signed-out input")].flatMap((e) => {
          const style = getComputedStyle(e);
          const border = style.borderTopColor;
          const worst = Math.min(ratio(border, behind(e)), ratio(border, style.backgroundColor));
          return worst < 3 ? [`${e.id}: ${worst.toFixed(2)}`] : [];
        });
      });
      assert.deepEqual(faint, [], colorScheme);
    }
    await page.emulateMedia({ colorScheme: "light" });

    // The policy is enforced: an injected inline script does not run, and the page hears of it.
    await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__inlineRan = true";
      document.head.append(s);
    });
    await page.waitForFunction(() => window.__cspViolations.length > 0);
    assert.equal(await page.evaluate(() => window.__inlineRan), undefined);
    assert.match((await page.evaluate(() => window.__cspViolations))[0], /^script-src/);
    await context.close();
  });

  test("notes: create, validation error, edit, delete, pagination", TIMEOUT, async () => {
    const { context, page } = await openPage();
    await signUp(page);
    // The signed-in screen starts at its top, with the focus at the start of its content.
    assert.equal(await page.evaluate(() => scrollY), 0);
    assert.equal(await page.evaluate(() => document.activeElement.id), "main");
    assert.equal(await page.locator("#notes-empty").isVisible(), true);

    // An invalid note: the API's structured error is shown.
    await page.click("#note-add");
    await page.waitForSelector("#error:not([hidden])");
    assert.match(await shownError(page), /title/);

    await addNote(page, { title: "First note", body: "Hello\nworld", tags: "e2e, demo" });
    await expectNoError(page);
    const note = page.locator("[data-testid=note]").first();
    assert.equal(await note.locator("[data-testid=note-title]").textContent(), "First note");
    assert.equal(await note.locator("[data-testid=note-body]").textContent(), "Hello\nworld");
    assert.deepEqual(await note.locator(".tag").allTextContents(), ["e2e", "demo"]);

    // Edit: the form opens on a fresh copy and saves with If-Match.
    await note.locator("[data-action=edit]").click();
    const title = note.locator("input[name=title]");
    await title.waitFor();
    assert.equal(await title.evaluate((e) => e === document.activeElement), true, "the title has focus");
    await title.fill("First note, edited");
    await note.locator("textarea[name=body]").fill("Changed <b>text</b>");
    await note.locator("[data-action=save]").click();
    await note.locator("[data-testid=note-title]").waitFor();
    await expectNoError(page);
    assert.equal(await note.locator("[data-testid=note-title]").textContent(), "First note, edited");
    // Text stays text: no markup from user data.
    assert.equal(await note.locator("[data-testid=note-body]").textContent(), "Changed <b>text</b>");
    assert.equal(await note.locator("[data-testid=note-body] b").count(), 0);
    assert.deepEqual(await apiNoteTitles(page), ["First note, edited"]);

    // Delete asks once more, and says so to screen readers too.
    const del = note.locator("[data-action=delete]");
    assert.equal(await del.getAttribute("aria-label"), "Delete “First note, edited”");
    await del.click();
    assert.equal(await del.textContent(), "Confirm delete");
    assert.equal(await del.getAttribute("aria-label"), "Confirm delete “First note, edited”");
    await del.click();
    await page.waitForSelector("[data-testid=note]", { state: "detached" });
    assert.deepEqual(await apiNoteTitles(page), []);
    assert.equal(await page.locator("#notes-empty").isVisible(), true);

    // More notes than a page: "Load more" follows next_cursor.
    await page.evaluate(async () => {
      for (let i = 1; i <= 12; i++) {
        const r = await fetch("/v1/notes", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ title: `Note ${i}` }),
        });
        if (r.status !== 201) throw new Error(`create: ${r.status}`);
      }
    });
    await load(page);
    assert.equal(await page.locator("[data-testid=note]").count(), 10);
    assert.equal((await noteTitles(page))[0], "Note 12");
    await page.click("#notes-more");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=note]").length === 12);
    assert.equal(await page.locator("#notes-more").isVisible(), false);
    assert.deepEqual(page.problems.filter((p) => !/status of 4\d\d/.test(p.text)), []);
    await context.close();
  });

  test("the session cookie is HttpOnly, Secure, SameSite=Lax, host-only; sign-out clears it", TIMEOUT, async () => {
    const { context, page } = await openPage();
    const email = await signUp(page);
    assert.equal(await page.locator("#who-email").textContent(), email);

    assert.equal((await page.evaluate(() => document.cookie)).includes(COOKIE), false);
    const cookies = await context.cookies(origin);
    const session = cookies.find((c) => c.name === COOKIE);
    assert.ok(session, `a ${COOKIE} cookie among ${cookies.map((c) => c.name)}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, "Lax");
    assert.equal(session.path, "/");
    assert.equal(session.domain, "localhost"); // host-only: no Domain attribute

    await page.click("#signout");
    await waitForScreen(page, "signed-out");
    assert.equal((await context.cookies(origin)).some((c) => c.name === COOKIE), false);
    await load(page);
    assert.equal(await screen(page), "signed-out");
    await context.close();
  });

  test("sessions: both browsers listed, the other one revoked", TIMEOUT, async () => {
    const first = await openPage();
    const email = await signUpWithPassword(first.page);
    const second = await openPage();
    await second.page.locator("#password-panel summary").click();
    await second.page.fill("#password-email", email);
    await second.page.fill("#password", PASSWORD);
    await second.page.click("#password-signin");
    await waitForScreen(second.page, "signed-in");

    await load(first.page);
    const sessions = first.page.locator("[data-testid=session]");
    assert.equal(await sessions.count(), 2);
    assert.equal(await first.page.locator("[data-testid=session][data-current=true] .badge").textContent(), "This browser");
    // Each button names its session.
    assert.equal(
      await first.page.locator("[data-testid=session][data-current=true] [data-action=revoke]").getAttribute("aria-label"),
      "Sign out (this browser)",
    );
    assert.match(
      await first.page.locator("[data-testid=session][data-current=false] [data-action=revoke]").getAttribute("aria-label"),
      /^Revoke Headless Chrome on Linux, last active \S/,
    );
    await first.page.locator("[data-testid=session][data-current=false] [data-action=revoke]").click();
    await first.page.waitForFunction(() => document.querySelectorAll("[data-testid=session]").length === 1);

    await load(second.page);
    assert.equal(await screen(second.page), "signed-out");
    await first.context.close();
    await second.context.close();
  });

  test("other origins can neither read the API nor write with the cookie (CORS, SameSite, CSRF)", TIMEOUT, async () => {
    const { context, page } = await openPage();
    await signUp(page);
    await addNote(page, { title: "Mine" });
    const before = await apiNoteTitles(page);

    // 127.0.0.1 is another site than localhost (SameSite keeps the cookie home); localhost on
    // another port is the same site but another origin (the cookie goes along, the API's
    // Origin check refuses the write).
    for (const host of ["127.0.0.1", "localhost"]) {
      const other = await otherOrigin(host);
      const evil = await context.newPage();
      evil.setDefaultTimeout(10_000);
      await evil.goto(other.url);
      // What reached the API, as the browser saw it answered.
      const answered = [];
      const onResponse = (response) => {
        const request = response.request();
        if (request.url().startsWith(origin) && request.method() === "POST") answered.push(response.status());
      };
      context.on("response", onResponse);

      const result = await evil.evaluate(async (base) => {
        const attempt = async (request) => {
          try {
            const r = await request();
            return { status: r.status, type: r.type };
          } catch (e) {
            return { error: e.name };
          }
        };
        const note = JSON.stringify({ title: "forged" });
        return {
          read: await attempt(() => fetch(`${base}/v1/auth/me`, { credentials: "include" })),
          jsonPost: await attempt(() =>
            fetch(`${base}/v1/notes`, {
              method: "POST",
              credentials: "include",
              headers: { "content-type": "application/json" },
              body: note,
            }),
          ),
          simplePost: await attempt(() =>
            fetch(`${base}/v1/notes`, {
              method: "POST",
              credentials: "include",
              mode: "no-cors",
              headers: { "content-type": "text/plain" },
              body: note,
            }),
          ),
        };
      }, origin);
      assert.deepEqual(result.read, { error: "TypeError" }, `${host}: reading /me must fail (CORS)`);
      assert.deepEqual(result.jsonPost, { error: "TypeError" }, `${host}: a JSON POST must fail its preflight`);
      assert.equal(result.simplePost.type, "opaque", `${host}: a no-cors POST gets nothing back`);

      // A form POST (text/plain smuggling JSON), the classic CSRF.
      const formAnswer = evil.waitForResponse((r) => r.url() === `${origin}/v1/notes`);
      await evil.evaluate((action) => {
        const form = document.createElement("form");
        form.method = "POST";
        form.action = action;
        form.enctype = "text/plain";
        const input = document.createElement("input");
        input.name = '{"title":"forged by a form","x":"';
        input.value = '"}';
        form.append(input);
        document.body.append(form);
        form.submit();
      }, `${origin}/v1/notes`);
      const formStatus = (await formAnswer).status();
      await evil.waitForURL(`${origin}/v1/notes`);
      const formBody = JSON.parse(await evil.evaluate(() => document.body.innerText));
      assert.notEqual(formStatus, 201, `${host}: the form POST must not create a note`);
      context.off("response", onResponse);

      // Cross-site, the cookie stays home (SameSite=Lax): every write is unauthenticated.
      // Same-site, the cookie goes along, and the API refuses the foreign Origin (CSRF check).
      // A JSON POST never gets past its preflight, so two POSTs reach the API.
      const [status, code] = host === "127.0.0.1" ? [401, "UNAUTHENTICATED"] : [403, "CSRF_REJECTED"];
      assert.deepEqual(answered, [status, status], `${host}: the POSTs that reached the API`);
      assert.equal(formStatus, status);
      assert.equal(formBody.error.code, code);
      await evil.close();
      await other.close();
    }

    // Through the real page: nothing was added.
    await load(page);
    assert.deepEqual(await noteTitles(page), before);
    assert.deepEqual(await apiNoteTitles(page), before);
    await context.close();
  });

  test("with passwords turned off, the page offers none; asked anyway, it shows the API's answer and steps aside", TIMEOUT, async () => {
    const otherPort = await freePort();
    const server = await startWorker(otherPort, {
      vars: { PASSWORD_LOGIN: "false" },
      log: join(workDir, "worker-no-passwords.log"),
    });
    try {
      const base = `http://localhost:${otherPort}`;
      // The page asks what is offered before it shows the screen: no password form at all,
      // the other ways as usual.
      {
        const { context, page } = await openPage({ base });
        assert.equal(await screen(page), "signed-out");
        assert.equal(await page.locator("#password-panel").isVisible(), false);
        for (const id of ["#signup-form", "#signin-form", "#link-form"]) {
          assert.equal(await page.locator(id).isVisible(), true, id);
        }
        if (PASSKEYS) {
          await addAuthenticator(page);
          await signUpWithPasskey(page);
          assert.equal(await page.locator("#password-settings").isVisible(), false);
          assert.equal(await page.locator("#passkeys").isVisible(), true);
        }
        assert.deepEqual(page.problems.filter((p) => !(p.url === `${base}/v1/auth/me` && /status of 401/.test(p.text))), []);
        await context.close();
      }

      // Without that answer (here cut off), the first refusal hides the form instead.
      const { context, page } = await openPage({ base, path: null });
      await context.route("**/v1/auth/methods", (route) => route.abort());
      await load(page, "/", base);
      const email = newEmail("nopw");
      const answer = await page.request.post(`${base}/v1/auth/login`, { data: { email, password: PASSWORD } });
      assert.equal(answer.status(), 404);
      await page.locator("#password-panel summary").click();
      await page.fill("#password-email", email);
      await page.fill("#password", PASSWORD);
      await page.click("#password-signin");
      await page.waitForSelector("#error:not([hidden])");
      // The page shows the structured error's own message.
      assert.equal(await shownError(page), (await answer.json()).error.message);
      assert.equal(await page.locator("#password-panel").isVisible(), false);
      assert.equal(await screen(page), "signed-out");

      // Signed in with a passkey, the password card does the same.
      if (PASSKEYS) {
        await addAuthenticator(page);
        await signUpWithPasskey(page);
        await page.fill("#new-password", "a passphrase of my own");
        await page.click("#password-save");
        await page.waitForSelector("#error:not([hidden])");
        assert.equal(await shownError(page), (await answer.json()).error.message);
        assert.equal(await page.locator("#password-settings").isVisible(), false);
        assert.equal(await screen(page), "signed-in");
      }
      await context.close();
    } finally {
      server.stdin.end();
    }
  });

  test("an outage while loading says so, keeps the session, and a retry signs back in", TIMEOUT, async () => {
    // A Worker on a real sqld reached through a relay that can be cut: the account read of
    // the page's first request (GET /v1/auth/me) then fails as the API fails, with a 503.
    const sqld = await startSqld();
    const link = await relay(sqld.url);
    const otherPort = await freePort();
    const server = await startWorker(otherPort, {
      vars: { DB_BACKEND: "turso", TURSO_URL: link.url, TURSO_AUTH_TOKEN: sqld.token, TURSO_TIMEOUT_MS: "3000" },
      log: join(workDir, "worker-outage.log"),
    });
    try {
      const base = `http://localhost:${otherPort}`;
      const { context, page } = await openPage({ base });
      const email = await signUpWithPassword(page);

      link.cut();
      const me = page.waitForResponse((r) => r.url().endsWith("/v1/auth/me"));
      await page.goto(base + "/");
      const answer = await me;
      assert.equal(answer.status(), 503);
      await waitForScreen(page, "unavailable");
      // The API's own message, and no sign-in forms for someone who is still signed in.
      assert.equal(await shownError(page), (await answer.json()).error.message);
      assert.equal(await page.locator("#unavailable").isVisible(), true);
      assert.equal(await page.locator("#signed-out").isVisible(), false);
      assert.equal(await page.locator("#who").isVisible(), false);
      await inView(page, "#retry");
      await page.screenshot({ path: join(screenshots, "unavailable.png"), fullPage: true });
      const cookie = (await context.cookies()).find((c) => c.name === COOKIE);
      assert.ok(cookie, "the session cookie is kept");

      // Still down: the retry says so again and stays on this screen.
      await page.click("#retry");
      await page.waitForSelector("#retry:not([disabled])");
      await page.waitForSelector("#error:not([hidden])");
      assert.equal(await screen(page), "unavailable");

      link.restore();
      await page.click("#retry");
      await waitForScreen(page, "signed-in");
      assert.equal(await page.locator("#who-email").textContent(), email);
      await expectNoError(page);
      assert.equal(await page.locator("#unavailable").isVisible(), false);

      // A link opened (in a new tab) while the API cannot say who is signed in is not spent:
      // it waits for the answer, and then the page asks about it as for any signed-in browser.
      const tab = await context.newPage();
      const verifies = [];
      tab.on("request", (r) => {
        if (r.url().endsWith("/v1/auth/email-link/verify")) verifies.push(r.url());
      });
      link.cut();
      await tab.goto(`${base}/#token=${"A".repeat(43)}`);
      await waitForScreen(tab, "unavailable");
      assert.equal(await tab.locator("#unavailable-link").isVisible(), true);
      assert.equal(await tab.evaluate(() => location.href), `${base}/`, "the token is cleared from the address");
      await tab.screenshot({ path: join(screenshots, "unavailable-link.png"), fullPage: true });
      link.restore();
      await tab.click("#retry");
      await tab.waitForSelector("#link-confirm:not([hidden])");
      assert.equal(await screen(tab), "signed-in");
      assert.equal(await tab.locator("#link-confirm-email").textContent(), email);
      assert.equal(await tab.locator("#unavailable-link").isVisible(), false);
      assert.deepEqual(verifies, [], "nothing was spent");
      await tab.click("#link-keep");
      assert.equal(await tab.locator("#link-confirm").isVisible(), false);
      assert.equal(await tab.locator("#who-email").textContent(), email);
      await context.close();
    } finally {
      server.stdin.end();
      await link.close();
      sqld.stop();
    }
  });

  test("passkeys: sign up, sign out, sign in (discoverable), add, rename, delete", needs(PASSKEYS, "passkey"), async () => {
    const { context, page } = await openPage();
    const phone = await addAuthenticator(page);
    const email = await signUpWithPasskey(page);
    await expectNoError(page);
    assert.equal(await page.locator("#who-email").textContent(), email);
    assert.equal(await page.locator("[data-testid=passkey]").count(), 1);
    const [stored] = await phone.credentials();
    assert.equal(stored.isResidentCredential, true, "a discoverable credential");

    await page.click("#signout");
    await waitForScreen(page, "signed-out");

    // Discoverable: no e-mail given, the authenticator offers the account.
    await page.click("#signin-button");
    await waitForScreen(page, "signed-in");
    await expectNoError(page);
    assert.equal(await page.locator("#who-email").textContent(), email);
    assert.notEqual((await page.locator("[data-testid=passkey]").first().locator(".meta").textContent()).match(/last used/), null);

    // A second device: the first one is taken away, a new authenticator registers.
    await phone.remove();
    const laptop = await addAuthenticator(page);
    await page.fill("#passkey-name", "Laptop");
    await page.click("#passkey-add");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=passkey]").length === 2);
    await expectNoError(page);
    assert.equal((await laptop.credentials()).length, 1);
    assert.ok((await page.locator("[data-testid=passkey-name]").allTextContents()).includes("Laptop"));

    // Rename the new one.
    const laptopId = await page.locator("[data-testid=passkey]", { hasText: "Laptop" }).getAttribute("data-id");
    const laptopItem = page.locator(`[data-testid=passkey][data-id="${laptopId}"]`);
    await laptopItem.locator("[data-action=rename]").click();
    await laptopItem.locator("input[name=name]").fill("Work laptop");
    await laptopItem.locator("[data-action=save]").click();
    await page.waitForSelector("[data-testid=passkey-name]:text-is('Work laptop')");
    await expectNoError(page);

    // Delete the first (the phone is gone).
    const phoneItem = page.locator("[data-testid=passkey]", { hasNotText: "Work laptop" });
    await phoneItem.locator("[data-action=delete]").click();
    await phoneItem.locator("[data-action=delete]").click();
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=passkey]").length === 1);
    await expectNoError(page);

    // The last way in cannot be deleted: the API says why (409), the page shows it, on a
    // phone's screen too, where the button is far below the notice.
    await page.setViewportSize({ width: 375, height: 740 });
    const last = page.locator("[data-testid=passkey]");
    await last.locator("[data-action=delete]").click();
    await last.locator("[data-action=delete]").click();
    await page.waitForSelector("#error:not([hidden])");
    assert.equal(await page.locator("[data-testid=passkey]").count(), 1);
    await inView(page, "#error");

    // The remaining passkey signs in.
    await page.click("#signout");
    await waitForScreen(page, "signed-out");
    await page.fill("#signin-email", email);
    await page.click("#signin-button");
    await waitForScreen(page, "signed-in");
    assert.equal(await page.locator("#who-email").textContent(), email);
    await context.close();
  });

  test("password: a passkey account sets one on a fresh sign-in, then needs it to change it", needs(PASSKEYS, "passkey"), async () => {
    const { context, page } = await openPage();
    await addAuthenticator(page);
    const email = await signUpWithPasskey(page);
    // A space at the end is part of the password, in the settings form and at sign-in.
    const chosen = "a passphrase of my own ";
    await page.fill("#new-password", chosen);
    await page.click("#password-save");
    await page.waitForSelector("#message:not([hidden])");
    await expectNoError(page);
    assert.match(await page.locator("#message").textContent(), /Password saved/);
    assert.equal(await page.locator("#new-password").inputValue(), "", "the form is cleared");
    assert.equal(await page.locator("#password-username").inputValue(), email, "password managers see the account");
    // The session went on (on a new cookie): the page still works signed in.
    assert.equal(await page.locator("[data-testid=session]").count(), 1);

    // The session that went on began with the password: a change now needs it, and the
    // page says how to do without.
    await page.fill("#new-password", "yet another passphrase");
    await page.click("#password-save");
    await page.waitForSelector("#error:not([hidden])");
    assert.match(await shownError(page), /Enter your current password/);
    await page.fill("#current-password", chosen);
    await page.click("#password-save");
    await page.waitForSelector("#message:not([hidden])");
    await expectNoError(page);

    await page.click("#signout");
    await waitForScreen(page, "signed-out");
    await page.locator("#password-panel summary").click();
    await page.fill("#password-email", email);
    await page.fill("#password", "yet another passphrase");
    await page.click("#password-signin");
    await waitForScreen(page, "signed-in");
    assert.equal(await page.locator("#who-email").textContent(), email);
    await context.close();
  });

  test("e-mail link: request, open the mailed link, signed in; the link works once", needs(EMAIL_LINK, "e-mail link"), async () => {
    // The link is the way back into an existing account (a lost passkey, a new device).
    const { context, page } = await openPage();
    const email = await signUp(page);
    await page.click("#signout");
    await waitForScreen(page, "signed-out");

    await page.fill("#link-email", email);
    await page.click("#link-button");
    await page.waitForSelector("#link-sent:not([hidden])");
    await expectNoError(page);

    const link = await mailedLink(email);
    const token = new URL(link).hash.match(/^#token=([A-Za-z0-9_-]+)$/)?.[1];
    assert.ok(token, `a token in ${link}`);
    // Opened from the mail: a new tab of the same browser.
    const tab = await context.newPage();
    await load(tab, `/#token=${token}`);
    assert.equal(await screen(tab), "signed-in");
    assert.equal(await tab.locator("#who-email").textContent(), email);
    assert.equal(await tab.evaluate(() => location.href), `${origin}/`, "the token is cleared from the address");

    // A link opened where a session is already signed in is used only when asked; a used one
    // then says so and keeps the session.
    await tab.evaluate((t) => { location.hash = `#token=${t}`; }, token);
    await tab.waitForSelector("#link-confirm:not([hidden])");
    assert.equal(await tab.locator("#link-confirm-email").textContent(), email);
    await tab.click("#link-use");
    await tab.waitForSelector("#error:not([hidden])");
    assert.equal(await tab.locator("#link-confirm").isVisible(), false);
    assert.equal(await screen(tab), "signed-in");
    assert.equal(await tab.locator("#who-email").textContent(), email);

    // A new link opened in a tab that already shows the page (only the fragment changes).
    await tab.click("#signout");
    await waitForScreen(tab, "signed-out");
    await tab.fill("#link-email", email);
    await tab.click("#link-button");
    await tab.waitForSelector("#link-sent:not([hidden])");
    const second = new URL(await mailedLink(email, link)).hash.slice("#token=".length);
    assert.notEqual(second, token);
    await tab.evaluate((t) => { location.hash = `#token=${t}`; }, second);
    await waitForScreen(tab, "signed-in");
    await expectNoError(tab);
    assert.equal(await tab.locator("#who-email").textContent(), email);
    assert.equal(await tab.evaluate(() => location.href), `${origin}/`, "the token is cleared from the address");
    await context.close();

    // Used once: another browser opening it again stays signed out and is told why.
    const again = await openPage({ path: `/#token=${token}` });
    assert.equal(await screen(again.page), "signed-out");
    assert.ok(await shownError(again.page));
    await again.context.close();
  });

  test("someone else's e-mail link never moves a signed-in browser without asking", needs(EMAIL_LINK, "e-mail link"), async () => {
    // The other account requests a link to itself and gets this browser to open it.
    const other = await openPage();
    const otherEmail = await signUp(other.page);
    await other.page.click("#signout");
    await waitForScreen(other.page, "signed-out");
    await other.page.fill("#link-email", otherEmail);
    await other.page.click("#link-button");
    await other.page.waitForSelector("#link-sent:not([hidden])");
    const token = new URL(await mailedLink(otherEmail)).hash.slice("#token=".length);
    await other.context.close();

    const { context, page } = await openPage();
    const email = await signUp(page);
    // Opened in a new tab of the signed-in browser: the page asks, and nothing is spent yet.
    const tab = await context.newPage();
    await tab.goto(`${origin}/#token=${token}`);
    await tab.waitForSelector("#link-confirm:not([hidden])");
    assert.equal(await screen(tab), "signed-in");
    assert.equal(await tab.locator("#who-email").textContent(), email);
    assert.equal(await tab.locator("#link-confirm-email").textContent(), email);
    assert.equal(await tab.evaluate(() => location.href), `${origin}/`, "the token is cleared from the address");
    await inView(tab, "#link-confirm");
    await tab.screenshot({ path: join(screenshots, "link-confirm.png"), fullPage: true });
    await tab.click("#link-keep");
    await tab.waitForSelector("#message:not([hidden])");
    assert.match(await tab.locator("#message").textContent(), /still signed in as/);
    assert.equal(await tab.locator("#link-confirm").isVisible(), false);
    assert.equal(await tab.locator("#who-email").textContent(), email);
    await load(tab);
    assert.equal(await tab.locator("#who-email").textContent(), email, "still the same session");

    // Asked for, the same (unspent) link signs in to its own account.
    await tab.evaluate((t) => { location.hash = `#token=${t}`; }, token);
    await tab.waitForSelector("#link-confirm:not([hidden])");
    await tab.click("#link-use");
    await tab.waitForFunction((e) => document.getElementById("who-email").textContent === e, otherEmail);
    await waitForScreen(tab, "signed-in");
    await expectNoError(tab);
    await context.close();
  });

  test("an account just signed in to deletes itself after a second press", TIMEOUT, async () => {
    const { context, page } = await openPage();
    const email = await signUp(page);
    await addNote(page, { title: "Soon gone", body: "", tags: "" });
    const button = page.locator("#account-delete");
    assert.equal(await button.getAttribute("aria-label"), "Delete account and everything in it");
    await button.click();
    // The first press only asks.
    assert.equal(await button.textContent(), "Confirm: delete account");
    assert.equal(await screen(page), "signed-in");
    await button.click();
    await waitForScreen(page, "signed-out");
    assert.equal(await page.locator("#message").textContent(), "Your account was deleted.");
    await expectNoError(page);
    await load(page);
    assert.equal(await screen(page), "signed-out", "the session went with the account");
    // The address is free: a new account starts empty.
    const again = await openPage();
    if (PASSKEYS) {
      again.page.authenticator = await addAuthenticator(again.page);
      await signUpWithPasskey(again.page, email);
    } else {
      await signUpWithPassword(again.page, email);
    }
    assert.equal(await again.page.locator("#who-email").textContent(), email);
    assert.deepEqual(await noteTitles(again.page), []);
    await again.context.close();
    await context.close();
  });

  test("screenshots of the main screens (target/screenshots)", TIMEOUT, async () => {
    for (const colorScheme of ["light", "dark"]) {
      const { context, page } = await openPage({ colorScheme });
      const suffix = colorScheme === "dark" ? "-dark" : "";
      await page.screenshot({ path: join(screenshots, `signed-out${suffix}.png`), fullPage: true });
      await signUp(page);
      await addNote(page, { title: "Groceries", body: "Oat milk, apples, coffee beans", tags: "home, errands" });
      await addNote(page, { title: "Release checklist", body: "Run make test\nTag the release\nDeploy", tags: "work" });
      await addNote(page, { title: "Ideas", body: "A passkey-only sign-in page." });
      await page.evaluate(() => document.activeElement?.blur());
      await page.screenshot({ path: join(screenshots, `notes${suffix}.png`), fullPage: true });
      if (colorScheme === "light") {
        await furnishAccount(page);
        // The account's part of the screen: notes set aside.
        await page.evaluate(() => {
          document.getElementById("notes").hidden = true;
          document.activeElement?.blur();
        });
        await page.screenshot({ path: join(screenshots, "account.png"), fullPage: true });
      }
      await context.close();
    }
  });
});
