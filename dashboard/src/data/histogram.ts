// A Prometheus histogram read out of the /metrics text, and its quantiles over
// an interval: the difference of two scrapes' cumulative buckets, interpolated
// within a bucket as Prometheus' histogram_quantile does. The Regions page uses
// it for roost_geo_staleness_seconds, which /api/regions does not carry.

/** One cumulative bucket: observations <= `le`. The last one's `le` is Infinity. */
export interface Bucket {
  le: number;
  count: number;
}

const LE = /(?:^|[{,])\s*le="([^"]*)"/;

/**
 * The cumulative buckets of histogram `name` in Prometheus text, summed over every
 * other label (e.g. one series per peer); null when the text has none.
 */
export function histogramBuckets(text: string, name: string): Bucket[] | null {
  const prefix = `${name}_bucket`;
  const byLe = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const rest = line.slice(prefix.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const close = rest.indexOf('}');
    const labels = rest[0] === '{' && close > 0 ? rest.slice(0, close + 1) : '';
    const le = LE.exec(labels)?.[1];
    const value = Number.parseFloat((close > 0 ? rest.slice(close + 1) : rest).trim().split(/\s+/)[0] ?? '');
    if (le === undefined || !Number.isFinite(value)) continue;
    const bound = le === '+Inf' ? Infinity : Number.parseFloat(le);
    if (Number.isNaN(bound)) continue;
    byLe.set(bound, (byLe.get(bound) ?? 0) + value);
  }
  if (byLe.size === 0) return null;
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

/**
 * What was observed between scrape `before` and scrape `after`: `after` less
 * `before`, bucket by bucket. When the buckets differ or a count went down (the
 * server restarted) the interval is `after` alone.
 */
export function bucketsBetween(before: Bucket[] | null, after: Bucket[]): Bucket[] {
  if (
    before === null ||
    before.length !== after.length ||
    before.some((b, i) => b.le !== after[i]?.le || b.count > (after[i]?.count ?? 0))
  ) {
    return after;
  }
  return after.map((b, i) => ({ le: b.le, count: b.count - (before[i]?.count ?? 0) }));
}

/**
 * The `q` quantile (0 to 1) of cumulative `buckets`, interpolated linearly inside
 * its bucket; the highest finite bound when it falls in the +Inf bucket; null
 * when nothing was observed.
 */
export function quantile(buckets: Bucket[], q: number): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (!(total > 0)) return null;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const b of buckets) {
    if (b.count >= rank && b.count > lowerCount) {
      if (b.le === Infinity) return lowerLe;
      return lowerLe + ((b.le - lowerLe) * (rank - lowerCount)) / (b.count - lowerCount);
    }
    lowerLe = b.le === Infinity ? lowerLe : b.le;
    lowerCount = b.count;
  }
  return lowerLe;
}
