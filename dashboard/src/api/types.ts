// Types that mirror the JSON Roost sends. Kept beside the code that decodes it
// (frames.ts, rest.ts); the server side is crates/roost/src/api/ws/snapshot.rs,
// crates/roost/src/telemetry/events.rs, crates/roost/src/api/rest/session.rs and
// the REST handlers (docs/api.md).

/** Percentiles in milliseconds; null when nothing was served in the window. */
export interface Latency {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** One point of the time series: rates over the last interval, state at its end. */
export interface Point {
  at_ms: number;
  ops_per_second: number;
  ops_by_op: Record<string, number>;
  hit_ratio: number | null;
  latency_ms: Latency;
  keys: number;
  memory_used_bytes: number;
  evictions: number;
  expirations: number;
}

export interface NodeState {
  id: string;
  state: string;
  ring_share: number;
  keys: number;
  used_bytes: number;
  capacity_bytes: number;
  ops: number;
  ops_per_second: number;
  errors: number;
}

export type EventKind =
  | 'startup'
  | 'config'
  | 'flush'
  | 'node_ejected'
  | 'node_readmitted'
  | 'topology_change'
  | 'task_failed'
  | 'warming'
  | 'region';

export interface RoostEvent {
  seq: number;
  at_ms: number;
  kind: EventKind;
  message: string;
}

/** First frame after connecting: the last five minutes of points. */
export interface HistoryFrame {
  type: 'history';
  interval_ms: number;
  points: Point[];
}

/** Every interval afterwards. */
export interface SnapshotFrame {
  type: 'snapshot';
  seq: number;
  interval_ms: number;
  backend: string;
  uptime_seconds: number;
  point: Point;
  hit_ratio_lifetime: number | null;
  memory: { used_bytes: number; max_bytes: number };
  nodes: NodeState[];
  events: RoostEvent[];
}

export type Frame = HistoryFrame | SnapshotFrame;

/** Every REST error: `{"error":{"code","message"}}`. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** A JSON value as stored and returned by the REST API. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

export interface GetResponse {
  key: string;
  value: JsonValue;
  /** Seconds left, rounded up; null when the entry never expires. */
  ttl: number | null;
  node: string;
  encoding?: 'utf8' | 'base64';
}

export interface SetResponse {
  key: string;
  node: string;
  ttl: number | null;
}

export interface DeleteResponse {
  key: string;
  deleted: boolean;
}

export interface MgetResult {
  key: string;
  hit: boolean;
  value?: JsonValue;
  ttl?: number | null;
  node?: string;
  encoding?: 'utf8' | 'base64';
}

export interface MgetResponse {
  results: MgetResult[];
}

/** A Redis-fleet node as listed by the topology API (`/api/cluster/nodes`). */
export interface ClusterNode {
  id: string;
  address?: string;
  state?: string;
  weight?: number;
}

export interface ClusterNodesResponse {
  nodes: ClusterNode[];
}

/** A credential's role; each may do what the ones before it may (docs/api.md). */
export type Role = 'read' | 'write' | 'admin';

/**
 * Who the caller is: `GET /api/auth/whoami` and `POST /api/auth/session`. With
 * authentication off the server answers `{"user":"default","role":"admin","auth":false}`.
 */
export interface Identity {
  user: string;
  role: Role;
  auth: boolean;
}

/** `DELETE /api/auth/session`. */
export interface SignOutResponse {
  signed_out: boolean;
}

/** One row of `GET /api/cache/hot-keys` (crates/roost/src/api/rest/hot_routes.rs). */
export interface HotKey {
  /** The key as text, or base64 when `key_encoding` is base64; its first 64 bytes when truncated. */
  key: string;
  key_encoding: 'utf8' | 'base64';
  key_bytes: number;
  truncated: boolean;
  requests_per_sec: number;
  /** Fraction of all client key requests, 0 to 1. */
  share: number;
  /** The owning node; null for a truncated key. */
  node: string | null;
  near_cached: boolean;
}

export interface HotKeysResponse {
  enabled: boolean;
  keys: HotKey[];
  limit: number;
  tracked: number;
  capacity: number;
  hot: number;
  total_requests_per_sec: number;
  window: {
    half_life_secs: number;
    fold_interval_ms: number;
    sample_one_in: number;
    sampled_total: number;
    lost_total: number;
  };
  note?: string;
}

/** `GET /api/cache/warming` (crates/roost/src/warming/status.rs; docs/api.md). */
export interface WarmingResponse {
  /** `ROOST_WARMING`; false: refresh-ahead, prefetch, snapshots and node warm-up are stopped. */
  enabled: boolean;
  /** `WARMING_INTERVAL`: how often the warming cycle (and the periodic snapshot) runs. */
  interval_ms: number;
  /** Whether an origin (`ROOST_ORIGIN_URL`) is configured: refresh and prefetch need one. */
  origin: boolean;
  /** `ROOST_ORIGIN_MAX_RPS`: the token bucket every background origin fetch takes from. */
  budget: { max_rps: number; used_per_sec: number; denied_total: number };
  refresh: {
    issued_total: number;
    stored_total: number;
    failed_total: number;
    skipped_total: number;
    per_sec: number;
  };
  prefetch: {
    issued_total: number;
    used_total: number;
    wasted_total: number;
    per_sec: number;
    /** used / issued; null before anything was issued. */
    precision: number | null;
    /** follow-up reads served by a prefetch / follow-up reads that would have missed; null before any. */
    coverage: number | null;
    successor_rules: number;
    pattern_rules: number;
  };
  /** Hot keys missing from the backend fetched again by the cycle. */
  warmup: { issued_total: number };
  /** Null without snapshots (no `ROOST_DATA_DIR`, or not the embedded store). */
  snapshot: WarmingSnapshotStatus | null;
  /** New or re-admitted fleet nodes being given their hot keys; empty elsewhere. */
  node_warmups: NodeWarmup[];
}

export interface WarmingSnapshotStatus {
  /** Null until the first snapshot was written. */
  last_snapshot: {
    at_ms: number;
    entries: number;
    bytes: number;
    duration_ms: number;
    error: string | null;
  } | null;
  /** Null until a load was tried at start-up. */
  last_load: {
    at_ms: number;
    state: 'loading' | 'done' | 'failed' | 'skipped';
    entries: number;
    skipped: number;
    duration_ms: number;
    error: string | null;
  } | null;
}

export interface NodeWarmup {
  node: string;
  reason: 'added' | 'readmitted';
  state: 'copying' | 'done' | 'stopped';
  copied: number;
  skipped: number;
  total: number;
  started_at_ms: number;
  finished_at_ms: number | null;
}

/** A link to a peer region's log: connecting, up, or down (retrying with backoff). */
export type RegionLinkState = 'connecting' | 'up' | 'down';

/** One peer in `GET /api/regions` (notes/plan-16.md; docs/regions.md). */
export interface RegionPeer {
  name: string;
  url: string;
  state: RegionLinkState;
  /** Changes in the peer's log not yet applied here. */
  lag_changes: number;
  /** How far behind the peer's clock the last applied change is, in ms. */
  lag_ms: number;
  /** The HLC version (u64, as a decimal string: it does not fit a JS number) last applied. */
  last_applied_version: string;
  applied_total: number;
  /** Changes applied per second, recently. */
  apply_rate: number;
  /** Changes that lost to a newer version already here. */
  conflicts_total: number;
  /** Times the cursor fell out of the peer's retention and this region resynchronised. */
  resyncs_total: number;
  /** Changes refused (e.g. stamped too far ahead: clock skew). */
  refused_total: number;
  last_error: string | null;
  /** Unix ms when the link came up; null unless up. */
  connected_since_ms: number | null;
}

/** `GET /api/regions` with a region configured. */
export interface RegionsEnabled {
  /** The server sends `true` with a region configured. */
  enabled?: true;
  region: string;
  mode: 'invalidate' | 'replicate';
  /** This region's HLC now (u64 as a decimal string). */
  version: string;
  log: { first: number; last: number; bytes: number; segments: number };
  peers: RegionPeer[];
}

/** `GET /api/regions` on a single-region Roost (no `ROOST_REGION`). */
export interface RegionsDisabled {
  enabled: false;
}

export type RegionsResponse = RegionsEnabled | RegionsDisabled;
