// End-to-end: a real `roost serve` on free ports, the embedded dashboard in
// headless Debian Chromium (playwright-core, never a downloaded browser), REST
// traffic from here, and what a person would see. Three scenarios, each with its
// own roost and browser profile:
//   open    no credentials: ops/s and hit ratio move, the Nodes page lists
//           every node, the key explorer finds a key, the hot-keys table puts
//           the key taking most of the traffic first.
//   signed  ROOST_API_TOKENS with one read user: the sign-in screen (and no
//           socket) first, a wrong token refused, the right one lets live data
//           in and shows the user; writes are disabled; a lost cookie and
//           signing out both return to the sign-in screen.
//   warming the cache-warming panel against the real GET /api/cache/warming
//           (issue 15; a server without it fails here with a 404): snapshots
//           into a temp ROOST_DATA_DIR every second show up live, a SIGTERM
//           restart shows the load, and ROOST_WARMING=off shows the off state.
//   regions the Regions page against the real GET /api/regions (issue 16; a
//           server without it fails here with a 404): a single-region roost
//           says so and how to configure regions; then two regions, a and b,
//           each with its own ROOST_DATA_DIR and the other as its peer: the
//           link comes up on screen, a write in a reaches b, the lag chart
//           draws, region events show, and stopping b shows the link down.
//
//   npm run e2e                      (after `npm run build` and a cargo build)
//   E2E_SCENARIOS=warming,open       only these scenarios (default: all)
//   ROOST_BIN=path/to/roost          which binary (default: the newer of
//                                    target/release/roost and target/debug/roost)
//   CHROMIUM=/usr/bin/chromium       which browser
//   UPDATE_DOCS_SCREENSHOT=1         also copy the Overview to docs/dashboard.png
//
// Screenshots land in e2e/artifacts/ (ignored by git).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const artifacts = join(here, 'artifacts');
const TOTAL_BUDGET_MS = 240_000;
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

/** A port free on 127.0.0.1 now (for addresses that must be known before a start). */
function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

/**
 * Starts roost on free ports (its HTTP port on `http` when given), with `env`
 * added; resolves with its addresses from the log.
 */
function startRoost(env = {}, http = '127.0.0.1:0') {
  const child = spawn(
    roostBinary(),
    ['serve', '--http-addr', http, '--resp-addr', '127.0.0.1:0', '--dashboard-addr', '127.0.0.1:0',
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

/** What in a GET /api/cache/warming answer differs from the documented shape (docs/api.md). */
function warmingShapeProblems(body) {
  const problems = [];
  const want = (path, ok) => ok || problems.push(path);
  const num = (v) => typeof v === 'number' && Number.isFinite(v);
  const numOrNull = (v) => v === null || num(v);
  const strOrNull = (v) => v === null || typeof v === 'string';
  const obj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(body)) return ['the answer is not an object'];
  want('enabled', typeof body.enabled === 'boolean');
  want('interval_ms', num(body.interval_ms));
  want('origin', typeof body.origin === 'boolean');
  want('budget', obj(body.budget) && ['max_rps', 'used_per_sec', 'denied_total'].every((k) => num(body.budget[k])));
  want('refresh', obj(body.refresh) &&
    ['issued_total', 'stored_total', 'failed_total', 'skipped_total', 'per_sec'].every((k) => num(body.refresh[k])));
  want('prefetch', obj(body.prefetch) &&
    ['issued_total', 'used_total', 'wasted_total', 'per_sec', 'successor_rules', 'pattern_rules'].every((k) => num(body.prefetch[k])) &&
    numOrNull(body.prefetch.precision) && numOrNull(body.prefetch.coverage));
  want('warmup', obj(body.warmup) && num(body.warmup.issued_total));
  const snap = body.snapshot;
  want('snapshot', snap === null || (obj(snap) && 'last_snapshot' in snap && 'last_load' in snap));
  if (obj(snap) && snap.last_snapshot !== null) {
    const l = snap.last_snapshot;
    want('snapshot.last_snapshot', obj(l) && ['at_ms', 'entries', 'bytes', 'duration_ms'].every((k) => num(l[k])) && strOrNull(l.error));
  }
  if (obj(snap) && snap.last_load !== null) {
    const l = snap.last_load;
    want('snapshot.last_load', obj(l) && ['loading', 'done', 'failed', 'skipped'].includes(l.state) &&
      ['at_ms', 'entries', 'skipped', 'duration_ms'].every((k) => num(l[k])) && strOrNull(l.error));
  }
  want('node_warmups', Array.isArray(body.node_warmups) && body.node_warmups.every((w) => obj(w) &&
    typeof w.node === 'string' && ['added', 'readmitted'].includes(w.reason) && ['copying', 'done', 'stopped'].includes(w.state) &&
    ['copied', 'skipped', 'total', 'started_at_ms'].every((k) => num(w[k])) && numOrNull(w.finished_at_ms)));
  return problems;
}

/** SIGTERM, then wait for the exit (a graceful stop writes the final snapshot). */
function stopRoost(roost) {
  return new Promise((resolvePromise) => {
    if (roost.child.exitCode !== null) return resolvePromise();
    const timer = setTimeout(() => {
      roost.child.kill('SIGKILL');
      resolvePromise();
    }, 15_000);
    roost.child.once('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    roost.child.kill('SIGTERM');
  });
}

async function testText(page, id) {
  return (await page.locator(`[data-testid="${id}"]`).first().innerText().catch(() => '')).trim();
}

/** The count a panel text such as "1,234 entries" starts with; NaN when there is none. */
const countIn = (text) => Number.parseInt(text.replace(/,/g, ''), 10);

/** Opens the Warming page of `roost` and waits for the warming panel's first answer. */
async function openWarming(page, roost) {
  await page.goto(`http://${roost.dashboard}/#/warming`);
  await page.locator('[data-testid="warming-state"]').waitFor({ timeout: 15_000 });
}

/** Issue 15's warming panel against the real endpoint, across a restart and with warming off. */
async function warmingScenario() {
  console.log('== scenario: cache warming panel (needs the server with GET /api/cache/warming)');
  const dataDir = mkdtempSync(join(tmpdir(), 'roost-e2e-data-'));
  const env = { ROOST_DATA_DIR: dataDir, WARMING_INTERVAL: '1000', ROOST_ORIGIN_MAX_RPS: '250' };
  let roost = await startRoost(env);
  const { profile, context } = await launchBrowser();
  const page = context.pages()[0] ?? (await context.newPage());
  const shot = (name) => page.screenshot({ path: join(artifacts, name) });
  try {
    const apiBase = `http://${roost.http}`;
    const first = await api(apiBase, 'GET', '/api/cache/warming');
    if (first.status !== 200) {
      check('GET /api/cache/warming answers 200 (it needs the server with issue 15 merged)', false,
        `${first.status} ${JSON.stringify(first.body)}`);
      return;
    }
    const problems = warmingShapeProblems(first.body);
    check('GET /api/cache/warming has the documented shape', problems.length === 0,
      problems.length === 0 ? '' : `${problems.join(', ')} in ${JSON.stringify(first.body)}`);
    const keys = 40;
    for (let i = 0; i < keys; i += 1) {
      await api(apiBase, 'POST', '/api/cache', { key: `e2e:warm:${i}`, value: { i }, ttl: 600 });
    }

    const polls = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/cache/warming') polls.push(Date.now());
    });
    await openWarming(page, roost).catch(async (e) => {
      await shot('warming-failed.png');
      throw e;
    });
    check('the panel says warming is on', (await testText(page, 'warming-state')) === 'on');
    const interval = await testText(page, 'warming-interval');
    check('the panel shows the cycle interval', interval === 'cycle every 1 s', interval);
    const budget = await testText(page, 'warming-budget');
    check('the panel shows the budget use against ROOST_ORIGIN_MAX_RPS', /\/ 250$/.test(budget), budget);
    const precision = await testText(page, 'warming-precision');
    check('the panel shows prefetch precision (a dash before any prefetch)', /(—|%)$/.test(precision), precision);
    check('the panel shows refresh and prefetch rates',
      /\d/.test(await testText(page, 'warming-refresh-rate')) && /\d/.test(await testText(page, 'warming-prefetch-rate')));

    const snapshotted = await until('the panel to show a snapshot of every key written',
      async () => countIn(await testText(page, 'warming-snapshot-entries')) >= keys, undefined, 15_000);
    const entries = await testText(page, 'warming-snapshot-entries');
    check('a periodic snapshot shows up live with its entries', snapshotted, `${entries} entries, ${keys} written`);
    const age = await testText(page, 'warming-snapshot-age');
    check('the snapshot says how long ago it was written', /^(just now|\d+ s ago)$/.test(age), age);
    check('the snapshot shows its size and duration', /entries · .+B · written in .+s$/.test(await testText(page, 'warming-snapshot-size')));
    const before = polls.length;
    await page.waitForTimeout(3_500);
    check('the panel polls about once a second', polls.length - before >= 3, `${polls.length - before} polls in 3.5 s`);
    await shot('warming.png');

    // A graceful restart: the final snapshot is loaded while the new process serves.
    await stopRoost(roost);
    roost = await startRoost(env);
    await openWarming(page, roost);
    const loaded = await until('the panel to show the start-up load done',
      async () => (await testText(page, 'warming-load-state')) === 'done', undefined, 15_000);
    const loadEntries = await testText(page, 'warming-load-entries');
    check('after a restart the panel shows the load done with the entries',
      loaded && countIn(loadEntries) >= keys, `${await testText(page, 'warming-load')}`);
    const back = await api(`http://${roost.http}`, 'GET', '/api/cache/e2e:warm:7');
    check('the restarted server serves a key from the snapshot', back.status === 200, `${back.status}`);
    await shot('warming-loaded.png');

    await stopRoost(roost);
    roost = await startRoost({ ...env, ROOST_WARMING: 'off' });
    await openWarming(page, roost);
    const off = await page.locator('[data-testid="warming-off"]').waitFor({ timeout: 10_000 }).then(() => true, () => false);
    check('with ROOST_WARMING=off the panel says warming is off', off && (await testText(page, 'warming-state')) === 'off');
    await shot('warming-off.png');
  } finally {
    await context.close();
    await stopRoost(roost);
    rmSync(profile, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** What in a GET /api/regions answer differs from the documented shape (notes/plan-16.md, docs/regions.md). */
function regionsShapeProblems(body) {
  const problems = [];
  const want = (path, ok) => ok || problems.push(path);
  const num = (v) => typeof v === 'number' && Number.isFinite(v);
  const u64 = (v) => typeof v === 'string' && /^\d{1,20}$/.test(v);
  const obj = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!obj(body)) return ['the answer is not an object'];
  want('region', typeof body.region === 'string');
  want('mode', ['invalidate', 'replicate'].includes(body.mode));
  want('version', u64(body.version));
  want('log', obj(body.log) && ['first', 'last', 'bytes', 'segments'].every((k) => num(body.log[k])));
  want('peers', Array.isArray(body.peers) && body.peers.every((p) => obj(p) &&
    typeof p.name === 'string' && typeof p.url === 'string' && ['connecting', 'up', 'down'].includes(p.state) &&
    ['lag_changes', 'lag_ms', 'applied_total', 'apply_rate', 'conflicts_total', 'resyncs_total', 'refused_total']
      .every((k) => num(p[k])) &&
    u64(p.last_applied_version) && (p.last_error === null || typeof p.last_error === 'string') &&
    (p.connected_since_ms === null || num(p.connected_since_ms))));
  return problems;
}

/** Issue 16's Regions page: a single region, then two regions linked to each other. */
async function regionsScenario() {
  console.log('== scenario: Regions page (needs the server with GET /api/regions)');
  const { profile, context } = await launchBrowser();
  const page = context.pages()[0] ?? (await context.newPage());
  const shot = (name) => page.screenshot({ path: join(artifacts, name) });
  const dirs = [mkdtempSync(join(tmpdir(), 'roost-e2e-region-a-')), mkdtempSync(join(tmpdir(), 'roost-e2e-region-b-'))];
  const started = [];
  try {
    const single = await startRoost();
    started.push(single);
    const answer = await api(`http://${single.http}`, 'GET', '/api/regions');
    if (answer.status !== 200) {
      check('GET /api/regions answers 200 (it needs the server with issue 16 merged)', false,
        `${answer.status} ${JSON.stringify(answer.body)}`);
      return;
    }
    check('a single-region roost answers {"enabled":false}', answer.body?.enabled === false, JSON.stringify(answer.body));
    await page.goto(`http://${single.dashboard}/#/regions`);
    const singleShown = await page.locator('[data-testid="regions-single"]').waitFor({ timeout: 15_000 })
      .then(() => true, () => false);
    const singleText = await testText(page, 'regions-single');
    check('the page says this roost runs a single region and how to configure regions',
      singleShown && /single region/.test(singleText) && /ROOST_REGION_PEERS=/.test(singleText), singleText.slice(0, 120));
    await shot('regions-single.png');
    await stopRoost(single);

    // Two regions, each the other's peer: their HTTP ports are chosen first.
    const [portA, portB] = [await freePort(), await freePort()];
    const secret = 'e2e-region-secret-0123456789';
    const region = (name, dir, peer, peerPort) => ({
      ROOST_REGION: name, ROOST_REGION_PEERS: `${peer}=http://127.0.0.1:${peerPort}`, ROOST_REGION_SECRET: secret,
      ROOST_DATA_DIR: dir, ROOST_GEO_MODE: 'replicate',
    });
    const a = await startRoost(region('a', dirs[0], 'b', portB), `127.0.0.1:${portA}`);
    started.push(a);
    const b = await startRoost(region('b', dirs[1], 'a', portA), `127.0.0.1:${portB}`);
    started.push(b);
    const baseA = `http://${a.http}`;
    const baseB = `http://${b.http}`;

    const first = await api(baseA, 'GET', '/api/regions');
    const problems = regionsShapeProblems(first.body);
    check('GET /api/regions has the documented shape', first.status === 200 && problems.length === 0,
      `${first.status} ${problems.join(', ')} in ${JSON.stringify(first.body)}`);

    await page.goto(`http://${a.dashboard}/#/regions`);
    await page.locator('[data-testid="regions-region"]').waitFor({ timeout: 15_000 }).catch(async (e) => {
      await shot('regions-failed.png');
      throw e;
    });
    check('the page names this region and its mode',
      (await testText(page, 'regions-region')) === 'a' && (await testText(page, 'regions-mode')) === 'replicate');
    check('the page lists the peer', (await testText(page, 'region-peer-name')) === 'b');
    const up = await page.locator('[data-testid="region-peer-state"][data-state="up"]').waitFor({ timeout: 20_000 })
      .then(() => true, () => false);
    check('the link to b comes up on screen', up, await testText(page, 'region-peer-state'));

    // Writes in a reach b (replicate mode): the same value, read from b's REST API.
    const keys = 30;
    for (let i = 0; i < keys; i += 1) {
      await api(baseA, 'POST', '/api/cache', { key: `e2e:geo:${i}`, value: { i }, ttl: 600 });
    }
    const reached = await until('the last write in a to be readable in b', async () => {
      const r = await api(baseB, 'GET', `/api/cache/e2e:geo:${keys - 1}`);
      return r.status === 200 && r.body?.value?.i === keys - 1;
    }, undefined, 20_000);
    check('a write in a reaches b', reached);
    const versioned = await api(baseB, 'GET', '/api/cache/e2e:geo:0');
    check('a REST read in a region carries the version', /^\d+$/.test(versioned.body?.version ?? ''),
      JSON.stringify(versioned.body));

    await page.goto(`http://${b.dashboard}/#/regions`);
    await page.locator('[data-testid="regions-region"]').waitFor({ timeout: 15_000 });
    const applied = await until('b to show the changes applied from a',
      async () => (await testText(page, 'region-peer-version')) !== '0' &&
        (await page.locator('[data-testid="regions-log"]').count()) === 1, undefined, 15_000);
    check('b shows the last version applied from a', applied, await testText(page, 'region-peer-version'));
    const lagDrawn = await until('the lag chart to draw a line',
      async () => (await page.locator('.recharts-line-curve').count()) >= 1, undefined, 15_000);
    check('the lag and staleness charts draw', lagDrawn);
    const source = await testText(page, 'regions-staleness-source');
    check('the staleness chart says it reads roost_geo_staleness_seconds', /roost_geo_staleness_seconds/.test(source), source);
    const evented = await until('a region event to show',
      async () => (await page.locator('[data-testid="region-event"]').count()) >= 1, undefined, 15_000);
    check('region events show (the link coming up)', evented, await testText(page, 'region-event'));
    await shot('regions.png');

    // b stops: a's page shows the link down (or reconnecting) and says why.
    await page.goto(`http://${a.dashboard}/#/regions`);
    await page.locator('[data-testid="region-peer-state"][data-state="up"]').waitFor({ timeout: 15_000 });
    await stopRoost(b);
    const down = await until('the link to b to leave up',
      async () => ['down', 'connecting'].includes(await page.locator('[data-testid="region-peer-state"]').first()
        .getAttribute('data-state').catch(() => '')), undefined, 20_000);
    check('stopping b shows its link down on a\'s page', down, await testText(page, 'region-peer-state'));
    const linksUp = await testText(page, 'regions-links-up');
    check('the header counts the link that is down', linksUp === '0 / 1 links up', linksUp);
    await shot('regions-down.png');
  } finally {
    await context.close();
    for (const roost of started) await stopRoost(roost);
    rmSync(profile, { recursive: true, force: true });
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

async function run() {
  mkdirSync(artifacts, { recursive: true });
  const only = (process.env.E2E_SCENARIOS ?? '').split(',').filter(Boolean);
  const scenarios = { open: openScenario, signed: signedScenario, warming: warmingScenario, regions: regionsScenario };
  const unknown = only.filter((name) => !(name in scenarios));
  if (unknown.length > 0) throw new Error(`unknown E2E_SCENARIOS ${unknown.join(', ')}: ${Object.keys(scenarios).join(', ')}`);
  for (const [name, scenario] of Object.entries(scenarios)) {
    if (only.length > 0 && !only.includes(name)) continue;
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
