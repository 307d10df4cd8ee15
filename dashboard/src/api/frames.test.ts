import { describe, expect, it } from 'vitest';

import { parseFrame } from './frames';

const point = {
  at_ms: 1,
  ops_per_second: 2,
  ops_by_op: { get: 2 },
  hit_ratio: 0.5,
  latency_ms: { p50: 0.01, p95: 0.02, p99: null },
  keys: 3,
  memory_used_bytes: 4,
  evictions: 0,
  expirations: 0,
};

describe('parseFrame', () => {
  it('accepts history and snapshot frames as the server sends them', () => {
    expect(parseFrame(JSON.stringify({ type: 'history', interval_ms: 1000, points: [point] }))?.type).toBe('history');
    const snapshot = {
      type: 'snapshot',
      seq: 0,
      interval_ms: 1000,
      backend: 'embedded',
      uptime_seconds: 1,
      point,
      hit_ratio_lifetime: null,
      memory: { used_bytes: 4, max_bytes: 10 },
      nodes: [],
      events: [],
    };
    expect(parseFrame(JSON.stringify(snapshot))?.type).toBe('snapshot');
  });

  it('rejects anything else', () => {
    expect(parseFrame('{')).toBeNull();
    expect(parseFrame('[]')).toBeNull();
    expect(parseFrame(JSON.stringify({ type: 'history', interval_ms: 1000, points: [{ at_ms: 1 }] }))).toBeNull();
    expect(parseFrame(JSON.stringify({ type: 'snapshot', interval_ms: 1000, point }))).toBeNull();
  });
});
