// The rolling time series the Overview charts: points from the history frame
// and each live snapshot, in time order, at most five minutes wide.
import type { Point } from '../api/types';

export const WINDOW_MS = 5 * 60 * 1000;
/** A hard cap whatever the interval, so a long-open page stays small. */
export const MAX_POINTS = 3_000;

export interface SeriesPoint {
  t: number;
  ops: number;
  hitRatio: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  keys: number;
  memory: number;
  evictions: number;
}

export function toSeriesPoint(p: Point): SeriesPoint {
  return {
    t: p.at_ms,
    ops: p.ops_per_second,
    hitRatio: p.hit_ratio,
    p50: p.latency_ms.p50,
    p95: p.latency_ms.p95,
    p99: p.latency_ms.p99,
    keys: p.keys,
    memory: p.memory_used_bytes,
    evictions: p.evictions,
  };
}

function trim(points: SeriesPoint[]): SeriesPoint[] {
  const newest = points.at(-1);
  if (newest === undefined) return points;
  const from = newest.t - WINDOW_MS;
  const kept = points.filter((p) => p.t >= from);
  return kept.length > MAX_POINTS ? kept.slice(kept.length - MAX_POINTS) : kept;
}

/** A fresh series from a history frame (it replaces what was there: after a
 * reconnect the server's history is the truth). */
export function fromHistory(points: Point[]): SeriesPoint[] {
  const sorted = points.map(toSeriesPoint).sort((a, b) => a.t - b.t);
  return trim(sorted.filter((p, i) => i === 0 || p.t > (sorted[i - 1]?.t ?? -Infinity)));
}

/** Appends a live point; one not newer than the last is ignored. */
export function append(series: SeriesPoint[], point: Point): SeriesPoint[] {
  const next = toSeriesPoint(point);
  const last = series.at(-1);
  if (last !== undefined && next.t <= last.t) return series;
  return trim([...series, next]);
}
