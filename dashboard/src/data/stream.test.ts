import { describe, expect, it } from 'vitest';

import type { Point, RoostEvent, SnapshotFrame } from '../api/types';
import { initialStream, keepRegionEvents, REGION_EVENTS_KEPT, streamReducer } from './stream';

function point(at_ms: number): Point {
  return {
    at_ms,
    ops_per_second: at_ms / 1000,
    ops_by_op: {},
    hit_ratio: 1,
    latency_ms: { p50: null, p95: null, p99: null },
    keys: 0,
    memory_used_bytes: 0,
    evictions: 0,
    expirations: 0,
  };
}

function snapshot(at_ms: number): SnapshotFrame {
  return {
    type: 'snapshot',
    seq: at_ms,
    interval_ms: 1000,
    backend: 'embedded',
    uptime_seconds: 1,
    point: point(at_ms),
    hit_ratio_lifetime: 1,
    memory: { used_bytes: 0, max_bytes: 1 },
    nodes: [],
    events: [],
  };
}

describe('streamReducer', () => {
  it('history replaces the series, snapshots extend it and become the latest', () => {
    let s = streamReducer(initialStream, { type: 'frame', frame: snapshot(500) });
    s = streamReducer(s, { type: 'frame', frame: { type: 'history', interval_ms: 1000, points: [point(1000), point(2000)] } });
    expect(s.series.map((p) => p.t)).toEqual([1000, 2000]);
    s = streamReducer(s, { type: 'frame', frame: snapshot(3000) });
    expect(s.series.map((p) => p.t)).toEqual([1000, 2000, 3000]);
    expect(s.latest?.seq).toBe(3000);
  });

  it('tracks the connection state without touching the data', () => {
    const s = streamReducer(initialStream, { type: 'frame', frame: snapshot(1000) });
    const next = streamReducer(s, { type: 'connection', state: { status: 'reconnecting', attempt: 2, retryAt: 5 } });
    expect(next.connection.status).toBe('reconnecting');
    expect(next.latest).toBe(s.latest);
    expect(next.series).toBe(s.series);
  });
});

describe('keepRegionEvents', () => {
  const ev = (seq: number, at_ms: number, kind: RoostEvent['kind'] = 'region'): RoostEvent => ({ seq, at_ms, kind, message: `e${seq}` });

  it('keeps region events across frames, once each, whatever else the frames carry', () => {
    let kept = keepRegionEvents([], [ev(1, 10), ev(2, 20, 'warming'), ev(3, 30)]);
    kept = keepRegionEvents(kept, [ev(3, 30), ev(4, 40, 'flush'), ev(5, 50)]);
    expect(kept.map((e) => e.seq)).toEqual([1, 3, 5]);
    const same = keepRegionEvents(kept, [ev(5, 50)]);
    expect(same).toBe(kept);
  });

  it('takes a restarted server\'s events although their seq starts again', () => {
    const kept = keepRegionEvents([ev(7, 100)], [ev(1, 200)]);
    expect(kept.map((e) => [e.seq, e.at_ms])).toEqual([[7, 100], [1, 200]]);
  });

  it('keeps the newest few, and the stream reducer feeds it', () => {
    const many = Array.from({ length: REGION_EVENTS_KEPT + 5 }, (_, i) => ev(i, i));
    const kept = keepRegionEvents([], many);
    expect(kept).toHaveLength(REGION_EVENTS_KEPT);
    expect(kept[0]?.seq).toBe(5);
    const frame = { ...snapshot(1000), events: [ev(1, 10), ev(2, 20, 'startup')] };
    const s = streamReducer(initialStream, { type: 'frame', frame });
    expect(s.regionEvents.map((e) => e.seq)).toEqual([1]);
  });
});
