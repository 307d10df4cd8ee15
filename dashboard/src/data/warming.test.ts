import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { warmingStatus } from '../api/rest';
import type { NodeWarmup } from '../api/types';
import { startPolling } from './poll';
import {
  budgetShare,
  initialWarming,
  intervalLabel,
  orderedWarmups,
  warmingReducer,
  warmupProgress,
  WARMING_POLL_MS,
  type WarmingState,
} from './warming';
import { SAMPLE_WARMING_JSON, sampleWarming } from './warming.sample';

/** Answers each fetch with the next of `replies` (the last one repeats), recording the URLs. */
function serve(replies: { status: number; body: string }[]) {
  const urls: string[] = [];
  vi.stubGlobal('fetch', (url: string) => {
    const reply = replies[Math.min(urls.length, replies.length - 1)];
    urls.push(url);
    return reply === undefined
      ? Promise.reject(new TypeError('no reply'))
      : Promise.resolve(new Response(reply.body, { status: reply.status }));
  });
  return urls;
}

const notFound = { status: 404, body: JSON.stringify({ error: { code: 'no_route', message: 'no such route' } }) };
const warm = { status: 200, body: SAMPLE_WARMING_JSON };

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('warmingStatus', () => {
  it('decodes the documented answer', async () => {
    const urls = serve([warm]);
    const probe = await warmingStatus();
    expect(urls).toEqual(['/api/cache/warming']);
    expect(probe.state).toBe('available');
    if (probe.state !== 'available') return;
    expect(probe.data.prefetch.precision).toBe(0.8);
    expect(probe.data.snapshot?.last_load?.state).toBe('done');
    expect(probe.data.node_warmups[0]?.node).toBe('n4');
  });

  it('refuses an answer of another shape (a key named warming, an older server)', async () => {
    serve([{ status: 200, body: JSON.stringify({ key: 'warming', value: 1, ttl: null, node: 'shard-0' }) }]);
    await expect(warmingStatus()).resolves.toMatchObject({ state: 'error', error: { code: 'bad_reply' } });
    const noLoad = { ...sampleWarming(), snapshot: { last_snapshot: null } };
    serve([{ status: 200, body: JSON.stringify(noLoad) }]);
    await expect(warmingStatus()).resolves.toMatchObject({ state: 'error', error: { code: 'bad_reply' } });
    const noSnapshots = sampleWarming({ snapshot: null, node_warmups: [] });
    serve([{ status: 200, body: JSON.stringify(noSnapshots) }]);
    await expect(warmingStatus()).resolves.toEqual({ state: 'available', data: noSnapshots });
  });

  it('says missing when the server has no warming API, error on a failure', async () => {
    serve([notFound]);
    await expect(warmingStatus()).resolves.toEqual({ state: 'missing' });
    serve([{ status: 503, body: JSON.stringify({ error: { code: 'unavailable', message: 'busy' } }) }]);
    await expect(warmingStatus()).resolves.toMatchObject({ state: 'error', error: { status: 503, code: 'unavailable' } });
  });
});

describe('polling the warming status', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  it('keeps the last answer through a failed poll, then takes the next', async () => {
    const off = { status: 200, body: JSON.stringify(sampleWarming({ enabled: false })) };
    const urls = serve([warm, { status: 500, body: '' }, off]);
    let state: WarmingState = initialWarming;
    let clock = 0;
    const stop = startPolling(warmingStatus, WARMING_POLL_MS, (r) => (state = warmingReducer(state, r, (clock += 1))));
    await vi.advanceTimersByTimeAsync(0);
    expect(state).toMatchObject({ missing: false, error: null, atMs: 1 });
    expect(state.answer?.enabled).toBe(true);
    await vi.advanceTimersByTimeAsync(WARMING_POLL_MS);
    expect(state.error).toMatchObject({ status: 500, code: 'http_500' });
    expect(state.answer?.enabled).toBe(true);
    expect(state.atMs).toBe(1);
    await vi.advanceTimersByTimeAsync(WARMING_POLL_MS);
    expect(state).toMatchObject({ error: null, atMs: 3 });
    expect(state.answer?.enabled).toBe(false);
    stop();
    expect(urls).toHaveLength(3);
  });

  it('an unreachable server keeps the answer too; a 404 clears it', async () => {
    let state = warmingReducer(initialWarming, { ok: true, value: { state: 'available', data: sampleWarming() } }, 5);
    vi.stubGlobal('fetch', () => Promise.reject(new TypeError('connection refused')));
    state = warmingReducer(state, { ok: true, value: await warmingStatus() }, 6);
    expect(state.answer).not.toBeNull();
    expect(state.error?.code).toBe('unreachable');
    state = warmingReducer(state, { ok: true, value: { state: 'missing' } }, 7);
    expect(state).toEqual({ answer: null, missing: true, error: null, atMs: 7 });
  });
});

const warmup = (over: Partial<NodeWarmup>): NodeWarmup => ({
  node: 'n4',
  reason: 'added',
  state: 'copying',
  copied: 0,
  skipped: 0,
  total: 0,
  started_at_ms: 0,
  finished_at_ms: null,
  ...over,
});

describe('what the panel shows', () => {
  it('the budget share is used / max, within 0 and 1', () => {
    expect(budgetShare({ max_rps: 1000, used_per_sec: 12.5, denied_total: 0 })).toBeCloseTo(0.0125);
    expect(budgetShare({ max_rps: 10, used_per_sec: 25, denied_total: 0 })).toBe(1);
    expect(budgetShare({ max_rps: 0, used_per_sec: 5, denied_total: 0 })).toBe(0);
  });

  it('the cycle interval reads in the unit it was set in', () => {
    expect(intervalLabel(60_000)).toBe('1m');
    expect(intervalLabel(1000)).toBe('1 s');
    expect(intervalLabel(250)).toBe('250.0 ms');
    expect(intervalLabel(1500)).toBe('1.50 s');
  });

  it('a warm-up counts copied and skipped keys out of the total', () => {
    expect(warmupProgress(warmup({ copied: 10, skipped: 0, total: 20 }))).toEqual({ percent: 50, status: 'active' });
    expect(warmupProgress(warmup({ copied: 15, skipped: 4, total: 20 }))).toEqual({ percent: 95, status: 'active' });
    expect(warmupProgress(warmup({ state: 'done', copied: 18, skipped: 2, total: 20 }))).toEqual({ percent: 100, status: 'success' });
    expect(warmupProgress(warmup({ state: 'stopped', copied: 3, total: 20 }))).toEqual({ percent: 15, status: 'exception' });
    expect(warmupProgress(warmup({ state: 'done', total: 0 }))).toEqual({ percent: 100, status: 'success' });
    expect(warmupProgress(warmup({ total: 0 })).percent).toBe(0);
    expect(warmupProgress(warmup({ copied: 30, total: 20 })).percent).toBe(100);
  });

  it('warm-ups in progress come first, then the newest', () => {
    const list = [
      warmup({ node: 'old', state: 'done', started_at_ms: 1 }),
      warmup({ node: 'new', state: 'done', started_at_ms: 3 }),
      warmup({ node: 'busy', state: 'copying', started_at_ms: 2 }),
    ];
    expect(orderedWarmups(list).map((w) => w.node)).toEqual(['busy', 'new', 'old']);
    expect(list[0]?.node).toBe('old');
  });
});
