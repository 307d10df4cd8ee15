import { describe, expect, it } from 'vitest';

import { bucketsBetween, histogramBuckets, quantile } from './histogram';
import { sampleMetrics } from './regions.sample';

const NAME = 'roost_geo_staleness_seconds';

describe('histogramBuckets', () => {
  it('sums the series of every peer by bound, in bound order', () => {
    expect(histogramBuckets(sampleMetrics([0, 20, 80, 100, 100]), NAME)).toEqual([
      { le: 0.01, count: 0 },
      { le: 0.05, count: 30 },
      { le: 0.1, count: 120 },
      { le: 0.5, count: 150 },
      { le: Infinity, count: 150 },
    ]);
  });

  it('reads a series without other labels, and ignores names that only start the same', () => {
    const text = 'x_bucket{le="1"} 5\nx_bucket{le="+Inf"} 6\nx_bucketed{le="1"} 100\nx_sum 3\n';
    expect(histogramBuckets(text, 'x')).toEqual([
      { le: 1, count: 5 },
      { le: Infinity, count: 6 },
    ]);
  });

  it('is null when the text has no such histogram', () => {
    expect(histogramBuckets('roost_geo_lag_seconds{peer="eu"} 0.04\n', NAME)).toBeNull();
    expect(histogramBuckets('', NAME)).toBeNull();
  });
});

describe('quantile', () => {
  const buckets = histogramBuckets(sampleMetrics([0, 20, 80, 100, 100]), NAME) ?? [];

  it('interpolates inside the bucket the rank falls in', () => {
    // rank 75 of 150: between 30 (<= 50 ms) and 120 (<= 100 ms).
    expect(quantile(buckets, 0.5)).toBeCloseTo(0.075);
    // rank 148.5: between 120 (<= 100 ms) and 150 (<= 500 ms).
    expect(quantile(buckets, 0.99)).toBeCloseTo(0.48);
  });

  it('answers the highest finite bound in the +Inf bucket, and null with no observations', () => {
    const slow = [
      { le: 0.1, count: 1 },
      { le: 1, count: 2 },
      { le: Infinity, count: 10 },
    ];
    expect(quantile(slow, 0.99)).toBe(1);
    expect(quantile([{ le: 0.1, count: 0 }, { le: Infinity, count: 0 }], 0.5)).toBeNull();
    expect(quantile([], 0.5)).toBeNull();
  });
});

describe('bucketsBetween', () => {
  it('is what was observed between two scrapes', () => {
    const before = histogramBuckets(sampleMetrics([0, 20, 80, 100, 100]), NAME);
    const after = histogramBuckets(sampleMetrics([10, 40, 100, 120, 120]), NAME) ?? [];
    const interval = bucketsBetween(before, after);
    expect(interval.map((b) => b.count)).toEqual([15, 30, 30, 30, 30]);
    // Half the changes in the interval took <= 10 ms, all <= 100 ms.
    expect(quantile(interval, 0.5)).toBeCloseTo(0.01);
    expect(quantile(interval, 0.99)).toBeLessThanOrEqual(0.1);
  });

  it('takes the newer scrape alone after a restart or a change of buckets', () => {
    const before = [{ le: 1, count: 50 }, { le: Infinity, count: 50 }];
    const restarted = [{ le: 1, count: 3 }, { le: Infinity, count: 4 }];
    expect(bucketsBetween(before, restarted)).toBe(restarted);
    const rebucketed = [{ le: 2, count: 60 }, { le: Infinity, count: 60 }];
    expect(bucketsBetween(before, rebucketed)).toBe(rebucketed);
    expect(bucketsBetween(null, restarted)).toBe(restarted);
  });
});
