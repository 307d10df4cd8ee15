// End-to-end: a real `roost serve` on free ports, the embedded dashboard in
// headless Debian Chromium (playwright-core, never a downloaded browser), REST
// traffic from here, and what a person would see. Two scenarios, each with its
// own roost and browser profile:
//   open    no credentials: ops/s and hit ratio move, the Nodes page lists
//           every node, the key explorer finds a key, the hot-keys table puts
//           the key taking most of the traffic first.
//   signed  ROOST_API_TOKENS with one read user: the sign-in screen (and no
//           socket) first, a wrong token refused, the right one lets live data
//           in and shows the user; writes are disabled; a lost cookie and
//           signing out both return to the sign-in screen.
//
//   npm run e2e                      (after `npm run build` and a cargo build)
//   ROOST_BIN=path/to/roost          which binary (default: the newer of
//                                    target/release/roost and target/debug/roost)
//   CHROMIUM=/usr/bin/chromium       which browser
//   UPDATE_DOCS_SCREENSHOT=1         also copy the Overview to docs/dashboard.png
//
// Screenshots land in e2e/artifacts/ (ignored by git).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const artifacts = join(here, 'artifacts');
const TOTAL_BUDGET_MS = 120_000;
const VIEWER_TOKEN = 'v1ewer-t0ken';

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
}

function roostBinary() {
  if (process.env.ROOST_BIN) return process.env.ROOST_BIN;
  const found = ['release', 'debug']
    .map((p) => join(repo, 'target', p, 'roost'))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (found.length === 0) throw new Error('no roost binary: run cargo build -p roost first');
  return found[0];
}

/** Starts roost on free ports, with `env` added; resolves with its addresses from the log. */
function startRoost(env = {}) {
  const child = spawn(
    roostBinary(),
    ['serve', '--http-addr', '127.0.0.1:0', '--resp-addr', '127.0.0.1:0', '--dashboard-addr', '127.0.0.1:0',
      '--shards', '4', '--metrics-interval', '500', '--log-format', 'json'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } },
  );
  return new Promise((resolvePromise, reject) => {
    const addrs = {};
    const timer = setTimeout(() => reject(new Error('roost did not log its addresses within 20 s')), 20_000);
    child.on('exit', (code) => reject(new Error(`roost exited early with ${code}`)));
    createInterface({ input: child.stderr }).on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      const message = entry.fields?.message;
      if (message === 'http listening') addrs.http = entry.fields.addr;
      if (message === 'dashboard listening') addrs.dashboard = entry.fields.addr;
      if (addrs.http && addrs.dashboard) {
        clearTimeout(timer);
        resolvePromise({ child, ...addrs });
      }
    });
  });
}

async function api(base, method, path, body, token) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** Mixed traffic: sets, then gets of which roughly 3 in 4 hit. */
async function traffic(base, rounds) {
  for (let i = 0; i < rounds; i += 1) {
    await api(base, 'POST', '/api/cache', { key: `user:${i % 50}`, value: { n: i }, ttl: 600 });
    await api(base, 'GET', `/api/cache/user:${i % 50}`);
    await api(base, 'GET', `/api/cache/user:${(i % 50) + 50}`);
    await api(base, 'GET', `/api/cache/user:${i % 25}`);
  }
}

/** Skewed reads: one key in every two requests, the rest over a few others. */
async function hotTraffic(base, rounds) {
  for (let i = 0; i < rounds; i += 1) {
    await api(base, 'GET', '/api/cache/e2e:hot');
    await api(base, 'GET', `/api/cache/e2e:cool:${i % 10}`);
  }
}

/** Traffic a read-role token may send: gets (all misses) and mgets. */
async function readTraffic(base, rounds, token) {
  for (let i = 0; i < rounds; i += 1) {
    await api(base, 'GET', `/api/cache/user:${i % 50}`, undefined, token);
    await api(base, 'POST', '/api/cache/mget', { keys: [`user:${i % 7}`, `user:${i % 11}`] }, token);
  }
}

async function statText(page, id) {
  return (await page.locator(`[data-testid="${id}"] .ant-statistic-content`).innerText()).trim();
}

/** Polls `probe` until it returns true, sending traffic meanwhile (`send`, or the mixed traffic). */
async function until(what, probe, base, deadlineMs = 20_000, send = traffic) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await probe()) return true;
    if (base) await send(base, 20);
    else await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`timed out waiting for ${what}`);
  return false;
}

/** A fresh headless Chromium profile (no cookies from another scenario). */
async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'roost-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  return { profile, context };
}

/** No credentials configured: the dashboard as it always was. */
async function openScenario() {
  console.log('== scenario: no credentials');
  const roost = await startRoost();
  const apiBase = `http://${roost.http}`;
  const dashboard = `http://${roost.dashboard}`;
  const { profile, context } = await launchBrowser();
  try {
    const root = await fetch(`${apiBase}/`).then((r) => r.text());
    check('the API port serves the dashboard at /', root.includes('id="root"'));

    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${dashboard}/`);
    await page.locator('[data-testid="connection-status"][data-status="open"]').waitFor({ timeout: 15_000 });
    check('the connection state shows live', true);
    await page.locator('[data-testid="ops-per-second"]').waitFor({ timeout: 15_000 });
    const opsBefore = await statText(page, 'ops-per-second');
    const hitBefore = await statText(page, 'hit-ratio');

    const moved = await until(
      'ops/s and hit ratio to change on screen',
      async () => (await statText(page, 'ops-per-second')) !== opsBefore && /%$/.test(await statText(page, 'hit-ratio')),
      apiBase,
    );
    const opsAfter = await statText(page, 'ops-per-second');
    const hitAfter = await statText(page, 'hit-ratio');
    check('ops/s changes with traffic', moved && opsAfter !== opsBefore, `${opsBefore} -> ${opsAfter}`);
    check('hit ratio changes with traffic', moved && hitAfter !== hitBefore, `${hitBefore} -> ${hitAfter}`);
    // The screenshot is taken while traffic flows, after the charts gathered points.
    const busy = traffic(apiBase, 700);
    await page.waitForTimeout(3000);
    await page.screenshot({ path: join(artifacts, 'overview.png') });
    await busy;
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
      copyFileSync(join(artifacts, 'overview.png'), join(repo, 'docs', 'dashboard.png'));
    }

    const overview = await api(apiBase, 'GET', '/api/cache/stats/overview');
    const ids = overview.body.nodes.map((n) => n.id);
    await page.getByRole('menuitem', { name: 'Nodes' }).click();
    await page.locator('[data-testid="node-id"]').first().waitFor({ timeout: 10_000 });
    const shown = await page.locator('[data-testid="node-id"]').allInnerTexts();
    const listed = ids.every((id) => shown.some((s) => s.includes(id)));
    check('the Nodes page lists every node', listed && ids.length === 4, `${ids.join(', ')} vs ${shown.join(', ')}`);
    check('the ring picture is drawn', (await page.locator('[data-testid="ring-picture"] path').count()) === ids.length);
    await page.locator('[data-testid="topology-unavailable"]').waitFor({ timeout: 10_000 });
    check('topology says it needs a Redis-fleet backend', true);
    await page.screenshot({ path: join(artifacts, 'nodes.png') });

    await page.getByRole('menuitem', { name: 'Key explorer' }).click();
    await page.locator('[data-testid="key-input"]').fill('user:7');
    await page.locator('[data-testid="get-button"]').click();
    const result = page.locator('[data-testid="key-result"]');
    await result.waitFor({ timeout: 10_000 });
    const text = await result.innerText();
    check('the key explorer shows the owning node and TTL', /shard-\d/.test(text) && /\dm|\ds/.test(text), text.replace(/\s+/g, ' '));
    await page.locator('[data-testid="key-input"]').fill('no-such-key');
    await page.locator('[data-testid="get-button"]').click();
    await page.locator('[data-testid="key-error"]').waitFor({ timeout: 10_000 }).catch(async (e) => {
      await page.screenshot({ path: join(artifacts, 'keys-failed.png') });
      throw e;
    });
    check('a miss shows the server error code', (await page.locator('[data-testid="key-error"]').innerText()).includes('not_found'));
    check('no user is shown with authentication off', (await page.locator('[data-testid="signed-in-user"]').count()) === 0);
    await page.screenshot({ path: join(artifacts, 'keys.png') });

    // Hot keys: one key takes most of the traffic; the live table puts it first.
    await page.getByRole('menuitem', { name: 'Hot keys' }).click();
    await page.locator('[data-testid="hot-keys-table"]').waitFor({ timeout: 10_000 });
    const firstKey = async () => (await page.locator('[data-testid="hot-key"]').first().innerText().catch(() => '')).trim();
    const hot = await until('the hot key to top the live table', async () => (await firstKey()) === 'e2e:hot', apiBase, 20_000, hotTraffic);
    check('the hot-keys table puts the hottest key first', hot, await firstKey());
    const rate = (await page.locator('[data-testid="hot-key-rate"]').first().innerText()).trim();
    check('the hot key shows an estimated rate', hot && Number.parseFloat(rate) > 0, rate);
    const rows = await page.locator('[data-testid="hot-key"]').count();
    check('the table lists several keys', rows >= 5, `${rows} rows`);
    await page.screenshot({ path: join(artifacts, 'hot-keys.png') });
  } finally {
    await context.close();
    roost.child.kill('SIGTERM');
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Fills the sign-in form with `token` and submits it. */
async function signInWith(page, token) {
  await page.locator('[data-testid="token-input"]').fill(token);
  await page.locator('[data-testid="sign-in-button"]').click();
}

/** One read user: signing in, live data, the header, and the ways back to sign-in. */
async function signedScenario() {
  console.log('== scenario: ROOST_API_TOKENS with a read user');
  const roost = await startRoost({ ROOST_API_TOKENS: `viewer:read:${VIEWER_TOKEN}` });
  const apiBase = `http://${roost.http}`;
  const dashboard = `http://${roost.dashboard}`;
  const { profile, context } = await launchBrowser();
  const onScreenshotFailure = (page, name) => async (e) => {
    await page.screenshot({ path: join(artifacts, `${name}-failed.png`) });
    throw e;
  };
  try {
    const refused = await api(apiBase, 'GET', '/api/cache/stats/overview');
    check('the API refuses a call without a credential', refused.status === 401 && refused.body?.error?.code === 'unauthorized',
      `${refused.status} ${JSON.stringify(refused.body)}`);
    const root = await fetch(`${dashboard}/`).then((r) => r.text());
    check('the dashboard files stay open', root.includes('id="root"'));

    const page = context.pages()[0] ?? (await context.newPage());
    const sockets = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(`${dashboard}/`);
    await page.locator('[data-testid="sign-in"]').waitFor({ timeout: 15_000 }).catch(onScreenshotFailure(page, 'sign-in'));
    check('the sign-in screen shows first', true);
    check('no metrics socket before signing in', sockets.length === 0, sockets.join(', '));
    await page.screenshot({ path: join(artifacts, 'sign-in.png') });

    await signInWith(page, 'not-the-token');
    const error = page.locator('[data-testid="sign-in-error"]');
    await error.waitFor({ timeout: 10_000 }).catch(onScreenshotFailure(page, 'wrong-token'));
    const errorText = await error.innerText();
    check('a wrong token is refused with a clear message', /not valid/i.test(errorText), errorText);
    check('still no metrics socket', sockets.length === 0, sockets.join(', '));

    await signInWith(page, VIEWER_TOKEN);
    await page.locator('[data-testid="connection-status"][data-status="open"]').waitFor({ timeout: 15_000 })
      .catch(onScreenshotFailure(page, 'signed-in'));
    check('signing in opens the live stream', sockets.some((u) => u.endsWith('/ws/metrics')), sockets.join(', '));
    const user = (await page.locator('[data-testid="signed-in-user"]').innerText()).trim();
    const role = (await page.locator('[data-testid="signed-in-role"]').innerText()).trim();
    check('the header shows the user and role', user === 'viewer' && role === 'read', `${user} (${role})`);

    await page.locator('[data-testid="ops-per-second"]').waitFor({ timeout: 15_000 });
    const opsBefore = await statText(page, 'ops-per-second');
    const moved = await until(
      'ops/s to change on screen after signing in',
      async () => (await statText(page, 'ops-per-second')) !== opsBefore,
      apiBase,
      20_000,
      (base, rounds) => readTraffic(base, rounds, VIEWER_TOKEN),
    );
    check('live data arrives after signing in', moved, `${opsBefore} -> ${await statText(page, 'ops-per-second')}`);
    await page.screenshot({ path: join(artifacts, 'signed-in.png') });

    await page.getByRole('menuitem', { name: 'Key explorer' }).click();
    await page.locator('[data-testid="key-input"]').fill('user:1');
    const setButton = page.locator('[data-testid="set-button"]');
    check('Set is disabled for the read role', await setButton.isDisabled());
    check('Delete is disabled for the read role', await page.locator('[data-testid="delete-button"]').isDisabled());
    await setButton.hover({ force: true });
    const tip = await page.locator('.ant-tooltip').filter({ hasText: 'needs write' }).first()
      .waitFor({ timeout: 5_000 }).then(() => true, () => false);
    check('a tooltip says why', tip);
    await page.locator('[data-testid="get-button"]').click();
    await page.locator('[data-testid="key-error"]').waitFor({ timeout: 10_000 });
    check('a read user may still get', (await page.locator('[data-testid="key-error"]').innerText()).includes('not_found'));

    // The cookie goes (as when a token is rotated): the next REST call answers 401.
    await context.clearCookies();
    await page.locator('[data-testid="get-button"]').click();
    await page.locator('[data-testid="sign-in"]').waitFor({ timeout: 10_000 }).catch(onScreenshotFailure(page, 'session-ended'));
    const notice = await page.locator('[data-testid="sign-in-notice"]').innerText().catch(() => '');
    check('a refused call returns to sign-in, saying the session ended', /session ended/i.test(notice), notice);

    await signInWith(page, VIEWER_TOKEN);
    await page.locator('[data-testid="sign-out-button"]').waitFor({ timeout: 10_000 });
    await page.locator('[data-testid="sign-out-button"]').click();
    await page.locator('[data-testid="sign-in"]').waitFor({ timeout: 10_000 }).catch(onScreenshotFailure(page, 'sign-out'));
    check('signing out shows the sign-in screen', true);
    const whoamiStatus = await page.evaluate(() => fetch('/api/auth/whoami').then((r) => r.status));
    check('signing out cleared the session cookie', whoamiStatus === 401, `whoami answers ${whoamiStatus}`);
    await page.reload();
    await page.locator('[data-testid="sign-in"]').waitFor({ timeout: 10_000 });
    check('a reload stays signed out', (await page.locator('[data-testid="connection-status"]').count()) === 0);
  } finally {
    await context.close();
    roost.child.kill('SIGTERM');
    rmSync(profile, { recursive: true, force: true });
  }
}

async function run() {
  mkdirSync(artifacts, { recursive: true });
  for (const scenario of [openScenario, signedScenario]) {
    try {
      await scenario();
    } catch (e) {
      failed += 1;
      console.error(`e2e error in ${scenario.name}:`, e);
    }
  }
}

const budget = setTimeout(() => {
  console.error(`e2e: over the ${TOTAL_BUDGET_MS / 1000} s budget`);
  process.exit(1);
}, TOTAL_BUDGET_MS);
try {
  await run();
} catch (e) {
  failed += 1;
  console.error('e2e error:', e);
}
clearTimeout(budget);
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
