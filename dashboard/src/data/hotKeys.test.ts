import { describe, expect, it } from 'vitest';

import type { HotKey, HotKeysResponse } from '../api/types';
import { hotKeyRows, labelOf, listedShare } from './hotKeys';

const key = (over: Partial<HotKey>): HotKey => ({
  key: 'user:1',
  key_encoding: 'utf8',
  key_bytes: 6,
  truncated: false,
  requests_per_sec: 100,
  share: 0.1,
  node: 'shard-0',
  near_cached: false,
  ...over,
});

const answer = (keys: HotKey[]): HotKeysResponse => ({
  enabled: true,
  keys,
  limit: 20,
  tracked: keys.length,
  capacity: 2048,
  hot: keys.length,
  total_requests_per_sec: 1000,
  window: { half_life_secs: 2, fold_interval_ms: 200, sample_one_in: 1, sampled_total: 10, lost_total: 0 },
});

describe('hot-key rows', () => {
  it('rank the keys in the order the server sent, hottest first', () => {
    const rows = hotKeyRows(answer([key({ key: 'a', share: 0.5 }), key({ key: 'b', share: 0.2 })]));
    expect(rows.map((r) => [r.rank, r.label, r.share])).toEqual([
      [1, 'a', 0.5],
      [2, 'b', 0.2],
    ]);
  });

  it('mark base64 and truncated keys and a missing node', () => {
    expect(labelOf(key({ key: '/wA=', key_encoding: 'base64', key_bytes: 2 }))).toBe('base64:/wA=');
    const long = key({ key: 'x'.repeat(64), truncated: true, key_bytes: 200, node: null });
    const rows = hotKeyRows(answer([long]));
    expect(rows.map((r) => [r.label, r.truncatedFrom, r.node])).toEqual([[`${'x'.repeat(64)}…`, 200, '—']]);
  });

  it('give distinct ids to a text key and a base64 key with the same characters', () => {
    const rows = hotKeyRows(answer([key({ key: 'AA==' }), key({ key: 'AA==', key_encoding: 'base64', key_bytes: 1 })]));
    expect(new Set(rows.map((r) => r.id)).size).toBe(2);
  });

  it('add up the listed shares, never above 1', () => {
    expect(listedShare(answer([key({ share: 0.25 }), key({ share: 0.5 })]))).toBeCloseTo(0.75);
    expect(listedShare(answer([key({ share: 0.7 }), key({ share: 0.4 })]))).toBe(1);
    expect(listedShare(answer([]))).toBe(0);
  });
});
