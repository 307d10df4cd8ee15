// The Regions page's data: polls GET /api/regions once a second while the page
// is open (and /metrics for the staleness histogram), keeps the last answer
// through a failed poll, and keeps five minutes of each peer's lag and of this
// region's staleness for the charts.
//
// Staleness is how old a change is when it is applied here: from its version's
// physical time to the apply. /api/regions does not carry it, so it comes from
// the `roost_geo_staleness_seconds` histogram in /metrics (p50 and p99 of the
// changes applied between two polls). When /metrics cannot be read, or has no
// such histogram, each peer's `lag_ms` stands in, and the chart says so.
import { useEffect, useState } from 'react';

import { ApiError, metricsText, regionsStatus, type Probe } from '../api/rest';
import type { RegionLinkState, RegionPeer, RegionsEnabled, RegionsResponse } from '../api/types';
import { bucketsBetween, histogramBuckets, quantile, type Bucket } from './histogram';
import { startPolling, type PollResult } from './poll';

export const REGIONS_POLL_MS = 1000;
/** How far back the charts reach. */
export const REGIONS_WINDOW_MS = 5 * 60 * 1000;
export const STALENESS_HISTOGRAM = 'roost_geo_staleness_seconds';

/** One poll: the regions answer, and the /metrics text when a region is configured. */
export interface RegionsPoll {
  probe: Probe<RegionsResponse>;
  metrics: string | null;
}

/** A chart row: the time, and one number (or a gap) per line. */
export type ChartRow = { t: number } & Record<string, number | null>;

export type StalenessSource = 'histogram' | 'lag_ms';

export interface RegionsState {
  /** The last answer; null before the first, or when the server has no regions API. */
  answer: RegionsResponse | null;
  /** The server answered 404: this version has no regions API. */
  missing: boolean;
  /** The last poll's failure; cleared by the next answer. */
  error: ApiError | null;
  /** This browser's clock when `answer` arrived. */
  atMs: number;
  /** Each peer's lag in ms (keys from `peerKey`), oldest first. */
  lag: ChartRow[];
  /** p50 and p99 staleness in ms from the histogram, or each peer's lag_ms (`stalenessSource`). */
  staleness: ChartRow[];
  stalenessSource: StalenessSource | null;
  /** The histogram's cumulative buckets at the last poll, to difference the next one against. */
  buckets: Bucket[] | null;
}

export const initialRegions: RegionsState = {
  answer: null,
  missing: false,
  error: null,
  atMs: 0,
  lag: [],
  staleness: [],
  stalenessSource: null,
  buckets: null,
};

/** Whether an answer is a configured region (not `{"enabled":false}`). */
export function isRegion(answer: RegionsResponse | null): answer is RegionsEnabled {
  return answer !== null && answer.enabled !== false;
}

/** A peer's key in chart rows; prefixed, since a region may be named `t`. */
export const peerKey = (name: string) => `peer:${name}`;

function within(rows: ChartRow[], atMs: number): ChartRow[] {
  return rows.filter((r) => r.t >= atMs - REGIONS_WINDOW_MS);
}

function peerRow(atMs: number, peers: RegionPeer[], value: (p: RegionPeer) => number): ChartRow {
  const row: ChartRow = { t: atMs };
  for (const p of peers) row[peerKey(p.name)] = Number.isFinite(value(p)) ? value(p) : null;
  return row;
}

/** The state after a region's answer (and /metrics text) arrived at `atMs`. */
function withRegion(state: RegionsState, answer: RegionsEnabled, metrics: string | null, atMs: number): RegionsState {
  // Another region behind the same address (a restart with other settings): start the charts over.
  const sameRegion = isRegion(state.answer) && state.answer.region === answer.region;
  const lag = sameRegion ? state.lag : [];
  const buckets = metrics === null ? null : histogramBuckets(metrics, STALENESS_HISTOGRAM);
  const source: StalenessSource = buckets === null ? 'lag_ms' : 'histogram';
  const staleness = sameRegion && state.stalenessSource === source ? state.staleness : [];
  let row: ChartRow | null;
  if (buckets === null) {
    row = peerRow(atMs, answer.peers, (p) => p.lag_ms);
  } else if (state.buckets === null || !sameRegion) {
    row = null; // the first scrape only sets the baseline
  } else {
    const interval = bucketsBetween(state.buckets, buckets);
    const toMs = (s: number | null) => (s === null ? null : s * 1000);
    row = { t: atMs, p50: toMs(quantile(interval, 0.5)), p99: toMs(quantile(interval, 0.99)) };
  }
  return {
    answer,
    missing: false,
    error: null,
    atMs,
    lag: within([...lag, peerRow(atMs, answer.peers, (p) => p.lag_ms)], atMs),
    staleness: within(row === null ? staleness : [...staleness, row], atMs),
    stalenessSource: source,
    buckets,
  };
}

/** The state after one poll answered at `atMs`: a failure keeps the previous answer and charts. */
export function regionsReducer(state: RegionsState, result: PollResult<RegionsPoll>, atMs: number): RegionsState {
  if (!result.ok) return { ...state, error: result.error };
  const { probe, metrics } = result.value;
  switch (probe.state) {
    case 'missing':
      return { ...initialRegions, missing: true, atMs };
    case 'error':
      return { ...state, error: probe.error };
    case 'available':
      if (!isRegion(probe.data)) return { ...initialRegions, answer: probe.data, atMs };
      return withRegion(state, probe.data, metrics, atMs);
  }
}

/** One poll: /api/regions, then /metrics when a region is configured. */
export async function pollRegions(): Promise<RegionsPoll> {
  const probe = await regionsStatus();
  const metrics = probe.state === 'available' && isRegion(probe.data) ? await metricsText() : null;
  return { probe, metrics };
}

/** Polls the regions status every `everyMs` while mounted. */
export function useRegions(everyMs = REGIONS_POLL_MS): RegionsState {
  const [state, setState] = useState<RegionsState>(initialRegions);
  useEffect(
    () => startPolling(pollRegions, everyMs, (result) => setState((s) => regionsReducer(s, result, Date.now()))),
    [everyMs],
  );
  return state;
}

export const LINK_STATE_COLOURS: Record<RegionLinkState, string> = {
  up: 'success',
  connecting: 'processing',
  down: 'error',
};

/** Line colours for peers, in the order the server lists them. */
export const PEER_COLOURS = ['#1677ff', '#fa8c16', '#52c41a', '#eb2f96', '#722ed1', '#13c2c2', '#f5222d', '#faad14'];

export const peerColour = (index: number) => PEER_COLOURS[index % PEER_COLOURS.length] ?? '#1677ff';

/** Down links first (they need attention), then connecting, then up; by name within each. */
export function orderedPeers(peers: RegionPeer[]): RegionPeer[] {
  const rank: Record<RegionLinkState, number> = { down: 0, connecting: 1, up: 2 };
  return [...peers].sort((a, b) => rank[a.state] - rank[b.state] || a.name.localeCompare(b.name));
}

/**
 * The wall-clock time (unix ms) in an HLC version: its top 42 bits are the
 * physical milliseconds (`physical_ms << 21 | logical << 8 | region_index`,
 * notes/plan-16.md). Null for a version that is not a decimal u64, or 0.
 */
export function versionTime(version: string): number | null {
  if (!/^\d{1,20}$/.test(version)) return null;
  const ms = Number(BigInt(version) >> 21n);
  return ms > 0 ? ms : null;
}

/** A summary for the header: how many links are up of how many. */
export function linksUp(peers: RegionPeer[]): { up: number; total: number } {
  return { up: peers.filter((p) => p.state === 'up').length, total: peers.length };
}
