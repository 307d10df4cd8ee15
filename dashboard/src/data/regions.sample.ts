// Example answers of GET /api/regions in the shape of notes/plan-16.md
// ("Status/metrics"), and a /metrics excerpt with the staleness histogram, for the
// tests of the data and of the page.
import type { RegionPeer, RegionsEnabled } from '../api/types';

export const SAMPLE_REGIONS_JSON = `{
  "enabled": true, "region": "us", "mode": "invalidate", "version": "3565158461865984770",
  "log": {"first": 1, "last": 5120, "bytes": 1048576, "segments": 2},
  "peers": [
    {"name": "eu", "url": "http://127.0.0.1:7101", "state": "up", "lag_changes": 3, "lag_ms": 41.5,
     "last_applied_version": "3565158461777903617", "applied_total": 2048, "apply_rate": 250.5,
     "conflicts_total": 7, "resyncs_total": 0, "refused_total": 0, "last_error": null,
     "connected_since_ms": 1700000000000},
    {"name": "ap", "url": "http://127.0.0.1:7102", "state": "down", "lag_changes": 120, "lag_ms": 5300,
     "last_applied_version": "3565158450751080192", "applied_total": 900, "apply_rate": 0,
     "conflicts_total": 0, "resyncs_total": 1, "refused_total": 2,
     "last_error": "connection refused", "connected_since_ms": null}
  ]
}`;

export const SAMPLE_SINGLE_REGION_JSON = '{"enabled":false}';

/** A fresh copy of the sample, with `over` laid on top. */
export function sampleRegions(over: Partial<RegionsEnabled> = {}): RegionsEnabled {
  return { ...(JSON.parse(SAMPLE_REGIONS_JSON) as RegionsEnabled), ...over };
}

/** One peer of the sample (eu), with `over` laid on top. */
export function samplePeer(over: Partial<RegionPeer> = {}): RegionPeer {
  const eu = sampleRegions().peers[0];
  if (eu === undefined) throw new Error('the sample has peers');
  return { ...eu, ...over };
}

/**
 * /metrics text with the staleness histogram as Prometheus writes it: one series
 * per peer, cumulative buckets (seconds). `counts` are the cumulative counts of
 * the buckets 0.01, 0.05, 0.1, 0.5 and +Inf for eu; ap has half as many.
 */
export function sampleMetrics(counts: [number, number, number, number, number]): string {
  const bounds = ['0.01', '0.05', '0.1', '0.5', '+Inf'];
  const lines = [
    '# HELP roost_geo_staleness_seconds From a change\'s version to its apply in this region.',
    '# TYPE roost_geo_staleness_seconds histogram',
  ];
  for (const [peer, share] of [['eu', 1], ['ap', 0.5]] as const) {
    bounds.forEach((le, i) => lines.push(`roost_geo_staleness_seconds_bucket{peer="${peer}",le="${le}"} ${(counts[i] ?? 0) * share}`));
    lines.push(`roost_geo_staleness_seconds_sum{peer="${peer}"} 1.5`);
    lines.push(`roost_geo_staleness_seconds_count{peer="${peer}"} ${counts[4] * share}`);
  }
  lines.push('roost_geo_staleness_seconds_bucket_other 99');
  lines.push('roost_geo_lag_seconds{peer="eu"} 0.04');
  return `${lines.join('\n')}\n`;
}
