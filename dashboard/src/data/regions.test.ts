import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { ApiError, isRegionsResponse, regionsStatus } from '../api/rest';
import { startPolling, type PollResult } from './poll';
import {
  initialRegions,
  isRegion,
  linksUp,
  orderedPeers,
  peerKey,
  pollRegions,
  REGIONS_POLL_MS,
  REGIONS_WINDOW_MS,
  regionsReducer,
  type RegionsPoll,
  type RegionsState,
  versionTime,
} from './regions';
import { SAMPLE_REGIONS_JSON, SAMPLE_SINGLE_REGION_JSON, sampleMetrics, samplePeer, sampleRegions } from './regions.sample';

/** Answers each fetch by its path from `routes` (a list is served in turn, the last repeating). */
function serve(routes: Record<string, { status: number; body: string }[]>) {
  const urls: string[] = [];
  const served: Record<string, number> = {};
  vi.stubGlobal('fetch', (url: string) => {
    urls.push(url);
    const replies = routes[url];
    const n = served[url] ?? 0;
    served[url] = n + 1;
    const reply = replies?.[Math.min(n, replies.length - 1)];
    return reply === undefined
      ? Promise.reject(new TypeError('no reply'))
      : Promise.resolve(new Response(reply.body, { status: reply.status }));
  });
  return urls;
}

const ok = (body: string) => ({ status: 200, body });
const notFound = { status: 404, body: JSON.stringify({ error: { code: 'no_route', message: 'no such route' } }) };
const available = (data: unknown, metrics: string | null = null): PollResult<RegionsPoll> => ({
  ok: true,
  value: { probe: { state: 'available', data: data as never }, metrics },
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('regionsStatus', () => {
  it('decodes a region with its peers, and a single region', async () => {
    const urls = serve({ '/api/regions': [ok(SAMPLE_REGIONS_JSON)] });
    const probe = await regionsStatus();
    expect(urls).toEqual(['/api/regions']);
    expect(probe.state).toBe('available');
    if (probe.state !== 'available' || !isRegion(probe.data)) throw new Error('not a region');
    expect(probe.data.peers.map((p) => p.state)).toEqual(['up', 'down']);
    // A u64 version stays exact: it is a string.
    expect(probe.data.peers[0]?.last_applied_version).toBe('3565158461777903617');
    serve({ '/api/regions': [ok(SAMPLE_SINGLE_REGION_JSON)] });
    await expect(regionsStatus()).resolves.toEqual({ state: 'available', data: { enabled: false } });
  });

  it('refuses answers of another shape', async () => {
    const bad = [
      { key: 'regions', value: 1, ttl: null, node: 'shard-0' },
      { ...sampleRegions(), mode: 'mirror' },
      { ...sampleRegions(), version: 12 },
      { ...sampleRegions(), peers: [{ ...samplePeer(), state: 'sideways' }] },
      { ...sampleRegions(), peers: [{ ...samplePeer(), last_applied_version: 5 }] },
      { enabled: true },
    ];
    for (const body of bad) {
      expect(isRegionsResponse(body)).toBe(false);
      serve({ '/api/regions': [ok(JSON.stringify(body))] });
      await expect(regionsStatus()).resolves.toMatchObject({ state: 'error', error: { code: 'bad_reply' } });
    }
  });

  it('says missing on a server without the API, error on a failure', async () => {
    serve({ '/api/regions': [notFound] });
    await expect(regionsStatus()).resolves.toEqual({ state: 'missing' });
    serve({ '/api/regions': [{ status: 401, body: JSON.stringify({ error: { code: 'unauthorized', message: 'sign in' } }) }] });
    await expect(regionsStatus()).resolves.toMatchObject({ state: 'error', error: { status: 401 } });
  });
});

describe('pollRegions', () => {
  it('reads /metrics only when a region is configured', async () => {
    let urls = serve({ '/api/regions': [ok(SAMPLE_REGIONS_JSON)], '/metrics': [ok('m 1\n')] });
    await expect(pollRegions()).resolves.toMatchObject({ metrics: 'm 1\n' });
    expect(urls).toEqual(['/api/regions', '/metrics']);
    urls = serve({ '/api/regions': [ok(SAMPLE_SINGLE_REGION_JSON)] });
    await expect(pollRegions()).resolves.toMatchObject({ metrics: null });
    expect(urls).toEqual(['/api/regions']);
  });

  it('does without /metrics when it is refused or unreachable', async () => {
    serve({ '/api/regions': [ok(SAMPLE_REGIONS_JSON)], '/metrics': [{ status: 403, body: '' }] });
    await expect(pollRegions()).resolves.toMatchObject({ probe: { state: 'available' }, metrics: null });
    serve({ '/api/regions': [ok(SAMPLE_REGIONS_JSON)] });
    await expect(pollRegions()).resolves.toMatchObject({ probe: { state: 'available' }, metrics: null });
  });
});

describe('regionsReducer', () => {
  it('charts each peer\'s lag, and staleness p50/p99 from the histogram between two polls', () => {
    let s = regionsReducer(initialRegions, available(sampleRegions(), sampleMetrics([0, 20, 80, 100, 100])), 1000);
    expect(s.stalenessSource).toBe('histogram');
    expect(s.staleness).toEqual([]); // the first scrape is the baseline
    expect(s.lag).toEqual([{ t: 1000, [peerKey('eu')]: 41.5, [peerKey('ap')]: 5300 }]);
    s = regionsReducer(s, available(sampleRegions(), sampleMetrics([10, 40, 100, 120, 120])), 2000);
    expect(s.staleness).toHaveLength(1);
    expect(s.staleness[0]?.t).toBe(2000);
    expect(s.staleness[0]?.p50).toBeCloseTo(10);
    expect(s.staleness[0]?.p99).toBeLessThanOrEqual(100);
    // Nothing applied in the next second: a gap, not a zero.
    s = regionsReducer(s, available(sampleRegions(), sampleMetrics([10, 40, 100, 120, 120])), 3000);
    expect(s.staleness[1]).toEqual({ t: 3000, p50: null, p99: null });
    expect(s.lag).toHaveLength(3);
  });

  it('uses lag_ms for staleness when /metrics has no histogram, and says so', () => {
    const s = regionsReducer(initialRegions, available(sampleRegions(), null), 1000);
    expect(s.stalenessSource).toBe('lag_ms');
    expect(s.staleness).toEqual([{ t: 1000, [peerKey('eu')]: 41.5, [peerKey('ap')]: 5300 }]);
  });

  it('keeps five minutes of points', () => {
    let s: RegionsState = initialRegions;
    for (let t = 0; t <= REGIONS_WINDOW_MS + 10_000; t += 10_000) s = regionsReducer(s, available(sampleRegions()), t);
    expect(s.lag[0]?.t).toBe(10_000);
    expect(s.lag.at(-1)?.t).toBe(REGIONS_WINDOW_MS + 10_000);
  });

  it('starts the charts over for another region, and clears them for a single region', () => {
    let s = regionsReducer(initialRegions, available(sampleRegions()), 1000);
    s = regionsReducer(s, available(sampleRegions({ region: 'eu' })), 2000);
    expect(s.lag.map((r) => r.t)).toEqual([2000]);
    s = regionsReducer(s, available({ enabled: false }), 3000);
    expect(s).toEqual({ ...initialRegions, answer: { enabled: false }, atMs: 3000 });
  });

  it('keeps the answer and charts through a failed poll; a 404 clears them', () => {
    let s = regionsReducer(initialRegions, available(sampleRegions()), 1000);
    s = regionsReducer(s, { ok: false, error: new ApiError(0, 'unreachable', 'down') }, 2000);
    expect(s.error?.code).toBe('unreachable');
    expect(isRegion(s.answer)).toBe(true);
    expect(s.lag).toHaveLength(1);
    s = regionsReducer(s, { ok: true, value: { probe: { state: 'error', error: new ApiError(500, 'internal', 'x') }, metrics: null } }, 3000);
    expect(s.error?.status).toBe(500);
    expect(s.atMs).toBe(1000);
    s = regionsReducer(s, { ok: true, value: { probe: { state: 'missing' }, metrics: null } }, 4000);
    expect(s).toEqual({ ...initialRegions, missing: true, atMs: 4000 });
  });
});

describe('polling the regions status', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  it('asks once a second, one call at a time, and moves the charts', async () => {
    const urls = serve({
      '/api/regions': [ok(SAMPLE_REGIONS_JSON), { status: 500, body: '' }, ok(SAMPLE_REGIONS_JSON)],
      '/metrics': [ok(sampleMetrics([0, 20, 80, 100, 100])), ok(sampleMetrics([10, 40, 100, 120, 120]))],
    });
    let state: RegionsState = initialRegions;
    let clock = 0;
    const stop = startPolling(pollRegions, REGIONS_POLL_MS, (r) => (state = regionsReducer(state, r, (clock += 1000))));
    await vi.advanceTimersByTimeAsync(0);
    expect(state.lag).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(REGIONS_POLL_MS);
    expect(state.error?.status).toBe(500);
    await vi.advanceTimersByTimeAsync(REGIONS_POLL_MS);
    expect(state.error).toBeNull();
    expect(state.lag).toHaveLength(2);
    expect(state.staleness).toHaveLength(1);
    stop();
    expect(urls).toEqual(['/api/regions', '/metrics', '/api/regions', '/api/regions', '/metrics']);
  });
});

describe('what the page shows', () => {
  it('reads the physical time out of an HLC version', () => {
    // physical 1_700_000_000_123 ms, logical 5, region 2
    const version = ((1_700_000_000_123n << 21n) | (5n << 8n) | 2n).toString();
    expect(versionTime(version)).toBe(1_700_000_000_123);
    expect(versionTime('0')).toBeNull();
    expect(versionTime('-5')).toBeNull();
    expect(versionTime('12.5')).toBeNull();
  });

  it('lists down links first, then connecting, then up, by name', () => {
    const peers = [
      samplePeer({ name: 'b', state: 'up' }),
      samplePeer({ name: 'a', state: 'up' }),
      samplePeer({ name: 'z', state: 'down' }),
      samplePeer({ name: 'c', state: 'connecting' }),
    ];
    expect(orderedPeers(peers).map((p) => p.name)).toEqual(['z', 'c', 'a', 'b']);
    expect(linksUp(peers)).toEqual({ up: 2, total: 4 });
  });
});
