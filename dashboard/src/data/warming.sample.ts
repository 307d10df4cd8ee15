// The example answer of GET /api/cache/warming from the plan of issue 15
// (notes/plan-15.md, part D), for the tests of the data and of the panel.
import type { WarmingResponse } from '../api/types';

export const SAMPLE_WARMING_JSON = `{
  "enabled": true, "interval_ms": 60000, "origin": true,
  "budget": {"max_rps": 1000, "used_per_sec": 12.5, "denied_total": 3},
  "refresh": {"issued_total": 10, "stored_total": 9, "failed_total": 0, "skipped_total": 1, "per_sec": 0.5},
  "prefetch": {"issued_total": 100, "used_total": 80, "wasted_total": 10, "per_sec": 3.0,
               "precision": 0.8, "coverage": 0.7, "successor_rules": 1, "pattern_rules": 2},
  "warmup": {"issued_total": 0},
  "snapshot": {"last_snapshot": {"at_ms": 1700000000000, "entries": 1234, "bytes": 1572864, "duration_ms": 42, "error": null},
               "last_load": {"at_ms": 1699999990000, "state": "done", "entries": 1200, "skipped": 3, "duration_ms": 7, "error": null}},
  "node_warmups": [{"node": "n4", "reason": "added", "state": "copying", "copied": 10, "skipped": 0, "total": 20, "started_at_ms": 1699999995000, "finished_at_ms": null}]
}`;

/** A fresh copy of the sample, with `over` laid on top. */
export function sampleWarming(over: Partial<WarmingResponse> = {}): WarmingResponse {
  return { ...(JSON.parse(SAMPLE_WARMING_JSON) as WarmingResponse), ...over };
}
