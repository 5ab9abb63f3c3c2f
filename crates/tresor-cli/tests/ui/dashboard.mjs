// The dashboard, driven in Debian's Chromium as a user would: sign in, add a secret and a
// variable in two environments, edit by right-click and by keyboard, grant a group, delete and
// undo, restore a version, meet a check-and-set conflict, a managed vault, the audit view, a
// phone-width page, sign out. Every response the browser receives and every page's DOM is
// scanned for the secret values stored: none may ever reach the browser.
//
// Run by crates/tresor-cli/tests/ui.rs, which starts the server and passes:
//   TRESOR_ADDR, ADMIN_TOKEN, SECRETS (JSON list of secret values this script stores),
//   SCREENSHOTS (a directory, optional).
// Prints "ok" at the end; any failed check throws.

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";

const addr = process.env.TRESOR_ADDR;
const adminToken = process.env.ADMIN_TOKEN;
const secrets = JSON.parse(process.env.SECRETS);
const shots = process.env.SCREENSHOTS;
const [devSecret, devSecretEdited, prodSecret, managedSecret] = secrets;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();

// ----- everything the browser receives, for the leak scan -----
step('everything the browser receives, for the leak scan');
/** Says on stderr where the script is, so a failure or a hang names its step. */
function step(name) {
  process.stderr.write(`step: ${name}\n`);
}
// A hung step fails the run instead of waiting forever.
setTimeout(() => {
  process.stderr.write("dashboard.mjs: gave up after 5 minutes\n");
  process.exit(2);
}, 5 * 60 * 1000).unref();

const received = [];
const reading = [];
page.on("response", (response) => {
  reading.push(
    response.text().then(
      (body) => received.push({ url: response.url(), body }),
      () => {}, // Redirects have no body.
    ),
  );
});
const doms = [];
async function snapshot(label) {
  doms.push({ label, html: await page.content() });
  if (shots && ["add-new", "context-menu", "vaults", "phone"].includes(label)) {
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: `${shots}/${label}.png` });
  }
}
let promptAnswer = "";
page.on("dialog", (dialog) => dialog.accept(dialog.type() === "prompt" ? promptAnswer : undefined));

async function api(method, path, body) {
  const r = await fetch(addr + path, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, doc: r.status === 204 ? null : await r.json() };
}

async function rowOf(key) {
  const row = page.locator(`tr.entry[data-key="${key}"]`);
  await row.waitFor();
  return row;
}

async function fillEntry({ key, kind, value, description, readGroups }) {
  if (key !== undefined) await page.fill('input[name="key"]', key);
  if (kind !== undefined) await page.check(`input[name="kind"][value="${kind}"]`);
  if (value !== undefined) await page.fill('textarea[name="value"]', value);
  if (description !== undefined) await page.fill('input[name="description"]', description);
  if (readGroups !== undefined) await page.fill('input[name="read_groups"]', readGroups);
}

async function save() {
  await Promise.all([page.waitForLoadState("load"), page.click('button[type="submit"].primary')]);
}

// ----- signing in: a session cookie, never the token in storage or a URL -----
step('signing in: a session cookie, never the token in storage or a URL');
const login = await page.goto(`${addr}/ui/entries`);
assert.match(page.url(), /\/ui\/login$/, "a page without a session sends the browser to sign in");
await page.fill("#token", "tsr_not_a_token");
await Promise.all([page.waitForLoadState("load"), page.click("button.primary")]);
assert.match(await page.textContent('[role="alert"]'), /refused/, "a bad token is refused in words");
await page.fill("#token", adminToken);
const [entriesPage] = await Promise.all([
  page.waitForResponse((r) => r.url().includes("/ui/entries") && r.status() === 200),
  page.click("button.primary"),
]);
const headers = entriesPage.headers();
assert.match(headers["content-security-policy"], /default-src 'none'; script-src 'self'/);
assert.equal(headers["x-frame-options"], "DENY");
assert.equal(headers["referrer-policy"], "no-referrer");
const [cookie] = (await context.cookies()).filter((c) => c.name === "tresor_session");
assert.ok(cookie, "a session cookie");
assert.equal(cookie.httpOnly, true);
assert.equal(cookie.sameSite, "Strict");
assert.ok(!cookie.value.includes(adminToken) && cookie.value.length === 64, "the cookie is a session id, not the token");
const storage = await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }]));
assert.equal(storage, "[{},{}]", "nothing in localStorage or sessionStorage");
assert.equal(await page.textContent('[data-testid="who"]'), "user:owner");
assert.ok(login.status() === 200);

// ----- Add New: a secret and a variable in dev, a secret in prod -----
step('Add New: a secret and a variable in dev, a secret in prod');
await page.goto(`${addr}/ui/entries?env=dev&vault=default`);
await snapshot("empty");
assert.match(await page.textContent(".empty"), /tresor -e dev -v default set KEY/, "the empty state teaches the CLI");
await page.click("text=Add New");
await snapshot("add-new");
assert.equal(
  await page.$eval('textarea[name="value"]', (t) => getComputedStyle(t).webkitTextSecurity),
  "disc",
  "a secret's value is typed masked",
);
await fillEntry({ key: "db/password", kind: "secret", value: devSecret, description: "main database", readGroups: "analysts" });
await save();
assert.match(await page.textContent(".toast"), /Saved db\/password/);
await page.goto(`${addr}/ui/entries/new?env=dev&vault=default&kind=variable`);
await fillEntry({ key: "app/mode", kind: "variable", value: "fast-mode" });
await save();
await page.goto(`${addr}/ui/entries/new?env=prod&vault=default`);
await fillEntry({ key: "db/password", kind: "secret", value: prodSecret, readGroups: "analysts" });
await save();
// Edit shows the entry's group permissions; taking a group out removes its grant (ui.rs then
// checks that the group's member cannot read the prod secret).
await page.goto(`${addr}/ui/entries/edit?env=prod&vault=default&key=db%2Fpassword`);
assert.equal(await page.inputValue('input[name="read_groups"]'), "analysts");
await fillEntry({ readGroups: "" });
await save();
assert.match(await page.textContent(".toast"), /Saved db\/password/);
await page.goto(`${addr}/ui/entries/edit?env=prod&vault=default&key=db%2Fpassword`);
assert.equal(await page.inputValue('input[name="read_groups"]'), "", "the grant is gone");
// A name the service refuses is shown next to the key field, in words.
await page.goto(`${addr}/ui/entries/new?env=dev&vault=default`);
await fillEntry({ key: "bad key!", kind: "secret", value: "x" });
await save();
assert.match(await page.textContent("#key-error"), /invalid/, "the key's error is next to it");
await snapshot("bad-key");
// A value over the service's limit is refused next to the value field.
await fillEntry({ key: "big/blob", kind: "variable", value: "x".repeat(9000) });
await save();
assert.match(await page.textContent("#value-error"), /the limit is 8192 bytes/, "the limit is named next to the value");
// Creating a key that exists is a conflict, in words.
await fillEntry({ key: "db/password", kind: "secret", value: "another" });
await save();
assert.match(await page.textContent('[data-testid="form-error"]'), /already exists/);

// ----- the tabs, the folders and filtering -----
step('the tabs, the folders and filtering');
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=secrets`);
assert.equal(await page.locator("tr.folder").count(), 1, "db/ is a folder");
await page.click("tr.folder a");
await rowOf("db/password");
await snapshot("entries");
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=variables&prefix=app/`);
assert.equal(await page.textContent('tr.entry[data-key="app/mode"] td.value'), "fast-mode", "variables show their value");
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=secrets&q=pass`);
await rowOf("db/password");
await page.fill("#filter", "zzz");
assert.equal(await page.locator("tr.entry:visible").count(), 0, "filtering as you type hides rows");
await page.fill("#filter", "db/");
assert.equal(await page.locator("tr.entry:visible").count(), 1);
// The environment selector lists the environments.
const envOptions = await page.locator('select[name="env"] option').allTextContents();
assert.ok(envOptions.includes("dev") && envOptions.includes("prod"), `environments offered: ${envOptions}`);
assert.ok(envOptions.includes("feature-x (branch of dev)"), "a branch is shown with its parent");

// ----- Edit by right-click (a secret: write-only, check-and-set) -----
step('Edit by right-click (a secret: write-only, check-and-set)');
let row = await rowOf("db/password");
await row.click({ button: "right" });
await snapshot("context-menu");
const menu = row.locator(".menu");
assert.equal(await menu.isVisible(), true, "right-click opens the row's menu");
assert.deepEqual(
  (await menu.locator('[role="menuitem"]').allTextContents()).map((t) => t.trim()),
  ["Edit", "History", "Copy reference", "Delete"],
);
await Promise.all([page.waitForURL(/\/ui\/entries\/edit/), menu.locator("text=Edit").click()]);
assert.equal(await page.inputValue('textarea[name="value"]'), "", "a secret is never filled in");
// A new description with the value left empty cannot be saved without the value: said next to it.
await fillEntry({ description: "renamed database" });
await save();
assert.match(await page.textContent("#value-error"), /enter the value again/);
assert.equal(await page.inputValue('textarea[name="value"]'), "", "still never filled in");
await fillEntry({ description: "main database" });
assert.match(await page.getAttribute('textarea[name="value"]', "placeholder"), /Leave empty to keep/);
await fillEntry({ value: devSecretEdited });
await save();
assert.match(await page.textContent(".toast"), /Saved db\/password/);

// ----- Edit by keyboard (a variable): Shift+F10 on the focused row -----
step('Edit by keyboard (a variable): Shift+F10 on the focused row');
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=variables&prefix=app/`);
row = await rowOf("app/mode");
await row.focus();
await page.keyboard.press("Shift+F10");
assert.equal(await row.locator(".menu").isVisible(), true, "Shift+F10 opens the menu");
assert.equal(await page.evaluate(() => document.activeElement.textContent), "Edit", "the first item has focus");
await page.keyboard.press("Escape");
assert.equal(await row.locator(".menu").isVisible(), false, "Escape closes it");
await row.focus();
await page.keyboard.press("ContextMenu");
await Promise.all([page.waitForURL(/\/ui\/entries\/edit/), page.keyboard.press("Enter")]);
assert.equal(await page.inputValue('textarea[name="value"]'), "fast-mode", "a variable's value is editable");
await fillEntry({ value: "slow-mode" });
await save();

// ----- a check-and-set conflict: someone else writes while the form is open -----
step('a check-and-set conflict: someone else writes while the form is open');
await page.goto(`${addr}/ui/entries/edit?env=dev&vault=default&key=app%2Fmode`);
const changed = await api("PUT", "/api/v1/envs/dev/vaults/default/entries/app%2Fmode", { value: "changed-elsewhere", kind: "variable" });
assert.equal(changed.status, 200);
await fillEntry({ value: "my-edit" });
await save();
assert.match(
  await page.textContent('[data-testid="form-error"]'),
  /was changed while you edited it: it is now at version 3, by user:owner/,
  "the conflict says who changed it",
);

// ----- Delete, undo from the toast, the Deleted view -----
step('Delete, undo from the toast, the Deleted view');
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=variables&prefix=app/`);
row = await rowOf("app/mode");
await row.click({ button: "right" });
await Promise.all([page.waitForURL(/deleted=app/), row.locator("text=Delete").click()]);
assert.match(await page.textContent(".toast"), /Deleted app\/mode/);
await Promise.all([page.waitForURL(/saved=app/), page.click(".toast button")]);
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=variables&prefix=app/`);
await rowOf("app/mode");

// Purge is separate, in the Deleted view, and needs the key typed.
await page.goto(`${addr}/ui/entries/new?env=dev&vault=default&kind=variable`);
await fillEntry({ key: "tmp/scratch", kind: "variable", value: "scratch" });
await save();
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=variables&prefix=tmp/`);
row = await rowOf("tmp/scratch");
await row.click({ button: "right" });
await Promise.all([page.waitForURL(/deleted=tmp/), row.locator("text=Delete").click()]);
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=deleted&prefix=tmp/`);
row = await rowOf("tmp/scratch");
await row.click({ button: "right" });
promptAnswer = "tmp/scratc";
await Promise.all([page.waitForLoadState("load"), row.locator("text=Purge").click()]);
assert.match(await page.textContent('[role="alert"]'), /type the key exactly/, "a mistyped key purges nothing");
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=deleted&prefix=tmp/`);
row = await rowOf("tmp/scratch");
await row.click({ button: "right" });
promptAnswer = "tmp/scratch";
await Promise.all([page.waitForURL(/tab=deleted/), row.locator("text=Purge").click()]);
assert.equal(await page.locator('tr.entry[data-key="tmp/scratch"]').count(), 0, "purged for good");

// ----- History and Restore -----
step('History and Restore');
await page.goto(`${addr}/ui/entries/history?env=dev&vault=default&key=db%2Fpassword`);
assert.equal(await page.locator('[data-testid="history"] tbody tr').count(), 2);
assert.match(await page.textContent('[data-testid="history"]'), /hidden \(secret\)/);
await Promise.all([page.waitForLoadState("load"), page.click('[data-testid="history"] button:text("Restore")')]);
assert.equal(await page.locator('[data-testid="history"] tbody tr').count(), 3, "the restore made version 3");
const variableHistory = await page.goto(`${addr}/ui/entries/history?env=dev&vault=default&key=app%2Fmode`);
assert.ok(variableHistory.ok());
assert.match(await page.textContent('[data-testid="history"]'), /fast-mode/, "a variable's old values are shown");

// ----- a vault managed by a declarative config: badge, warning, release -----
step('a vault managed by a declarative config: badge, warning, release');
await page.goto(`${addr}/ui/vaults?env=dev`);
await snapshot("vaults");
assert.match(await page.textContent('[data-testid="vaults"]'), /managed by config platform/);
await page.goto(`${addr}/ui/entries/new?env=dev&vault=managed`);
assert.match(await page.textContent(".warning"), /managed by config platform/);
await fillEntry({ key: "token", kind: "secret", value: managedSecret });
await save();
assert.match(await page.textContent('[data-testid="form-error"]'), /Tick "Release the vault from its config"/);
await fillEntry({ value: managedSecret });
await page.check('input[name="release"]');
await save();
assert.match(await page.textContent(".toast"), /Saved token/);
await page.goto(`${addr}/ui/vaults?env=dev`);
assert.doesNotMatch(await page.textContent('[data-testid="vaults"]'), /managed by config/, "saving released the vault");
// Vaults are created and deleted here; one that holds entries is not deleted, and the page says why.
await page.fill('form.inline-form input[name="vault"]', "scratch");
await Promise.all([page.waitForLoadState("load"), page.click('button:text("Create vault")')]);
const vaultRow = (name) => page.locator('[data-testid="vaults"] tbody tr', { has: page.locator(`a:text-is("${name}")`) });
assert.equal(await vaultRow("scratch").count(), 1, "the new vault is listed");
await Promise.all([page.waitForLoadState("load"), vaultRow("managed").locator('button:text("Delete")').click()]);
assert.match(await page.textContent('[role="alert"]'), /is not empty: it holds 2 entries/, "the refusal gives its reason");
await page.goto(`${addr}/ui/vaults?env=dev`);
await Promise.all([page.waitForLoadState("load"), vaultRow("scratch").locator('button:text("Delete")').click()]);
assert.equal(await vaultRow("scratch").count(), 0, "an empty vault is deleted");

// ----- Audit and verify -----
step('Audit and verify');
await page.goto(`${addr}/ui/audit?action=entry.write`);
await snapshot("audit");
assert.match(await page.textContent('[data-testid="audit"]'), /entry\.write/);
await Promise.all([page.waitForLoadState("load"), page.click('button[name="verify"]')]);
assert.match(await page.textContent('[data-testid="verify"]'), /The audit chain verifies/);

// ----- a phone's width -----
step("a phone's width");
await page.setViewportSize({ width: 390, height: 844 });
await page.goto(`${addr}/ui/entries?env=dev&vault=default&tab=secrets&prefix=db/`);
await snapshot("phone");
const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
assert.ok(overflow <= 392, `the page fits a phone's width (scrollWidth ${overflow})`);
await page.setViewportSize({ width: 1280, height: 800 });

// ----- signing out ends the session on the server -----
step('signing out ends the session on the server');
await Promise.all([page.waitForURL(/\/ui\/login/), page.click("text=Sign out")]);
const replay = await fetch(`${addr}/ui/entries`, { headers: { Cookie: `tresor_session=${cookie.value}` }, redirect: "manual" });
assert.equal(replay.status, 303, "the old session cookie is refused");
assert.match(replay.headers.get("location"), /\/ui\/login/);
// A forged change from another origin is refused even with a session.
await page.fill("#token", adminToken);
await Promise.all([page.waitForURL(/\/ui\/entries/), page.click("button.primary")]);
const [fresh] = (await context.cookies()).filter((c) => c.name === "tresor_session");
const forged = await fetch(`${addr}/ui/entries/delete`, {
  method: "POST",
  headers: { Cookie: `tresor_session=${fresh.value}`, Origin: "http://evil.example", "Content-Type": "application/x-www-form-urlencoded" },
  body: "env=dev&vault=default&key=db%2Fpassword&csrf=x",
  redirect: "manual",
});
assert.equal(forged.status, 403, "a cross-origin change is refused");
const noCsrf = await fetch(`${addr}/ui/entries/delete`, {
  method: "POST",
  headers: { Cookie: `tresor_session=${fresh.value}`, Origin: addr, "Content-Type": "application/x-www-form-urlencoded" },
  body: "env=dev&vault=default&key=db%2Fpassword&csrf=forged",
  redirect: "manual",
});
assert.equal(noCsrf.status, 403, "a change without the session's CSRF token is refused");

// ----- a session may do what its token may: a revoked token ends it -----
const minted = await api("POST", "/api/v1/tokens", { principal: "user:owner", name: "browser" });
assert.equal(minted.status, 201);
await Promise.all([page.waitForURL(/\/ui\/login/), page.click("text=Sign out")]);
await page.fill("#token", minted.doc.token);
await Promise.all([page.waitForURL(/\/ui\/entries/), page.click("button.primary")]);
assert.equal((await api("DELETE", `/api/v1/tokens/${minted.doc.id}`)).status, 204);
await page.goto(`${addr}/ui/entries`);
assert.match(await page.textContent('[role="alert"]'), /Your session ended/, "a revoked token ends the session at once");

// ----- the leak scan: no secret value in any response or DOM -----
step('the leak scan: no secret value in any response or DOM');
await snapshot("final");
// Bodies still being read are waited for a moment; one that never finishes is not scanned.
await Promise.race([Promise.all(reading), new Promise((done) => setTimeout(done, 5000))]);
for (const value of secrets) {
  for (const r of received) assert.ok(!r.body.includes(value), `a secret value reached the browser in ${r.url}`);
  for (const d of doms) assert.ok(!d.html.includes(value), `a secret value is in the DOM of ${d.label}`);
}
assert.ok(received.length > 30, `responses scanned: ${received.length}`);

await browser.close();
console.log("ok");
