import { describe, expect, it } from 'vitest';

import { formatAgo, formatBytes, formatCount, formatMs, formatOps, formatPercent, formatTtl } from './format';

describe('formatting', () => {
  it('ops per second', () => {
    expect(formatOps(0)).toBe('0.0');
    expect(formatOps(12.345)).toBe('12.3');
    expect(formatOps(1234.4)).toBe('1234');
    expect(formatOps(45_600)).toBe('45.6k');
    expect(formatOps(2_500_000)).toBe('2.50M');
    expect(formatOps(null)).toBe('—');
  });

  it('ratios, bytes and counts', () => {
    expect(formatPercent(0.9167)).toBe('91.7%');
    expect(formatPercent(null)).toBe('—');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(256 * 1024 * 1024)).toBe('256 MiB');
    expect(formatCount(1234567)).toBe('1,234,567');
  });

  it('latency picks a unit', () => {
    expect(formatMs(0.006)).toBe('6 µs');
    expect(formatMs(2.5)).toBe('2.50 ms');
    expect(formatMs(250)).toBe('250.0 ms');
    expect(formatMs(1500)).toBe('1.50 s');
    expect(formatMs(null)).toBe('—');
  });

  it('TTLs, including never', () => {
    expect(formatTtl(null)).toBe('no expiry');
    expect(formatTtl(45)).toBe('45 s');
    expect(formatTtl(3_725)).toBe('1h 2m 5s');
    expect(formatTtl(2 * 86_400 + 3_600)).toBe('2d 1h');
    expect(formatTtl(undefined)).toBe('—');
  });

  it('time ago, from the server clock to ours', () => {
    const now = 1_700_000_000_000;
    expect(formatAgo(now - 400, now)).toBe('just now');
    expect(formatAgo(now + 5_000, now)).toBe('just now');
    expect(formatAgo(now - 12_300, now)).toBe('12 s ago');
    expect(formatAgo(now - 3_725_000, now)).toBe('1h 2m 5s ago');
    expect(formatAgo(null, now)).toBe('—');
  });
});
