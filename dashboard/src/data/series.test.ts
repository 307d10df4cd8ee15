import { describe, expect, it } from 'vitest';

import type { Point } from '../api/types';
import { append, fromHistory, MAX_POINTS, WINDOW_MS } from './series';

function point(at_ms: number, ops = 1): Point {
  return {
    at_ms,
    ops_per_second: ops,
    ops_by_op: {},
    hit_ratio: null,
    latency_ms: { p50: null, p95: null, p99: null },
    keys: 0,
    memory_used_bytes: 0,
    evictions: 0,
    expirations: 0,
  };
}

describe('rolling series', () => {
  it('starts from the history in time order without duplicates', () => {
    const s = fromHistory([point(3000), point(1000), point(2000), point(2000)]);
    expect(s.map((p) => p.t)).toEqual([1000, 2000, 3000]);
  });

  it('appends newer points and ignores stale or repeated ones', () => {
    let s = fromHistory([point(1000)]);
    s = append(s, point(2000, 5));
    s = append(s, point(2000, 9));
    s = append(s, point(1500, 9));
    expect(s.map((p) => [p.t, p.ops])).toEqual([
      [1000, 1],
      [2000, 5],
    ]);
  });

  it('keeps five minutes and never more than the cap', () => {
    let s = fromHistory([]);
    for (let t = 0; t <= WINDOW_MS + 10_000; t += 1000) s = append(s, point(t));
    expect(s[0]?.t).toBe(10_000);
    expect(s.at(-1)?.t).toBe(WINDOW_MS + 10_000);
    let dense = fromHistory([]);
    for (let t = 0; t < MAX_POINTS + 500; t += 1) dense = append(dense, point(t));
    expect(dense).toHaveLength(MAX_POINTS);
  });
});
