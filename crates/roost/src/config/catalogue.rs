//! The one catalogue of configuration keys: name in `roost.toml`, environment
//! variable, command-line flag, default and meaning.
//!
//! Everything that lists settings — `--help`, `roost config check`, the layer
//! loader and the test that keeps `docs/configuration.md` true — reads this table,
//! so a key cannot exist in one place and be missing from another.

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Key in `roost.toml` (also the `--flag` name with `_` turned into `-`).
    pub key: &'static str,
    /// Environment variable.
    pub env: &'static str,
    /// Default as an operator would write it; empty means unset.
    pub default: &'static str,
    /// One line: what it does and its unit.
    pub help: &'static str,
}

impl Setting {
    /// The command-line flag, without the leading dashes.
    pub fn flag(&self) -> String {
        self.key.replace('_', "-")
    }
}

/// Every configuration key Roost reads, in the order they are documented.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "http_addr",
        env: "ROOST_HTTP_ADDR",
        default: "127.0.0.1:8000",
        help: "REST API, /metrics, /healthz and /readyz listen address (port 0 picks a free port)",
    },
    Setting {
        key: "resp_addr",
        env: "ROOST_RESP_ADDR",
        default: "127.0.0.1:6380",
        help: "Redis protocol (RESP2, RESP3 after HELLO 3) listen address (port 0 picks a free port; the log says which)",
    },
    Setting {
        key: "resp_password",
        env: "ROOST_RESP_PASSWORD",
        default: "",
        help: "Redis's requirepass: the secret of user `default` (role write). RESP clients send `AUTH <password>` or `AUTH default <password>`; REST accepts it as a bearer token. Setting it turns authentication on for every door",
    },
    Setting {
        key: "resp_max_connections",
        env: "ROOST_RESP_MAX_CONNECTIONS",
        default: "10000",
        help: "most simultaneous RESP connections; at the limit the connection idle longest (at least 10 s) is closed to make room, and without one the new client gets `-ERR max number of clients reached` (1 to 1000000)",
    },
    Setting {
        key: "resp_idle_timeout",
        env: "ROOST_RESP_IDLE_TIMEOUT",
        default: "300",
        help: "seconds a RESP connection may send nothing before it is closed; 0 means never, like Redis's timeout (0 to 86400). Unauthenticated connections get 10 s to AUTH when authentication is on",
    },
    Setting {
        key: "dashboard_addr",
        env: "ROOST_DASHBOARD_ADDR",
        default: "127.0.0.1:3000",
        help: "live dashboard listen address; it serves the same app as the API port (dashboard at /, plus /api, /ws and /metrics)",
    },
    Setting {
        key: "metrics_interval",
        env: "ROOST_METRICS_INTERVAL",
        default: "1000",
        help: "milliseconds between the snapshots /ws/metrics pushes to dashboards (100 to 60000)",
    },
    Setting {
        key: "redis_cluster_nodes",
        env: "REDIS_CLUSTER_NODES",
        default: "",
        help: "comma-separated redis:// node URLs; unset means the embedded store",
    },
    Setting {
        key: "backend",
        env: "ROOST_BACKEND",
        default: "auto",
        help: "auto (embedded without REDIS_CLUSTER_NODES; with it, CLUSTER INFO on the first reachable node decides), embedded, redis (standalone nodes sharded by Roost's ring) or redis-cluster",
    },
    Setting {
        key: "replicas",
        env: "ROOST_REPLICAS",
        default: "1",
        help: "copies of each key on distinct ring successors (redis backend; 1 to 5, at most the node count)",
    },
    Setting {
        key: "write_quorum",
        env: "ROOST_WRITE_QUORUM",
        default: "1",
        help: "replicas that must acknowledge a write before it succeeds (redis backend; 1 to ROOST_REPLICAS)",
    },
    Setting {
        key: "health_interval",
        env: "ROOST_HEALTH_INTERVAL",
        default: "500",
        help: "milliseconds between PING probes of each Redis node; an ejected node is retried with backoff up to 10x this (50 to 60000)",
    },
    Setting {
        key: "eject_after",
        env: "ROOST_EJECT_AFTER",
        default: "3",
        help: "consecutive failures (probes or requests) that take a Redis node out of rotation (1 to 100)",
    },
    Setting {
        key: "readmit_after",
        env: "ROOST_READMIT_AFTER",
        default: "2",
        help: "consecutive successful probes that bring an ejected Redis node back, after its missed writes are invalidated (1 to 100)",
    },
    Setting {
        key: "gutter_ttl",
        env: "ROOST_GUTTER_TTL",
        default: "10",
        help: "with ROOST_REPLICAS=1, seconds a write for an ejected node's range lives in the gutter (the next healthy node) instead of rehashing it there for good; 0 turns the gutter off (0 to 3600)",
    },
    Setting {
        key: "redis_connections",
        env: "ROOST_REDIS_CONNECTIONS",
        default: "1",
        help: "multiplexed, pipelined connections from this gateway to each Redis node; one batches best (1 to 64)",
    },
    Setting {
        key: "redis_timeout",
        env: "ROOST_REDIS_TIMEOUT",
        default: "1000",
        help: "milliseconds a request to one Redis node (or a connect) may take before it counts as a failure (10 to 60000)",
    },
    Setting {
        key: "redis_max_in_flight",
        env: "ROOST_REDIS_MAX_IN_FLIGHT",
        default: "10000",
        help: "requests in flight to one Redis node; beyond it requests fail fast with an overloaded error (1 to 1000000)",
    },
    // Near cache (issue 14, part C).
    Setting {
        key: "near_cache_bytes",
        env: "ROOST_NEAR_CACHE_BYTES",
        default: "0",
        help: "gateway memory for hot keys in front of a Redis fleet or Redis Cluster, e.g. 64MiB: keys the hot-key tracker ranks hot are kept here, invalidated by Redis's client tracking, and served without a round trip; an entry over 1/64 of it is not kept. 0 turns it off (0, or 64KiB to 1TiB)",
    },
    Setting {
        key: "cache_ttl",
        env: "CACHE_TTL",
        default: "3600",
        help: "default TTL in seconds for REST writes that give none; 0 means no expiry by default. RESP writes follow Redis: no expiry unless EX/PX/EXAT/PXAT is given",
    },
    Setting {
        key: "warming_interval",
        env: "WARMING_INTERVAL",
        default: "60000",
        help: "cache warming interval in milliseconds (100 to 86400000)",
    },
    // Hot keys (issue 14, item 3; docs/warming.md "Hot keys").
    Setting {
        key: "hot_keys",
        env: "ROOST_HOT_KEYS",
        default: "on",
        help: "hot-key tracking of client reads and writes (GET /api/cache/hot-keys, the near cache's admission): on or off",
    },
    Setting {
        key: "hot_keys_capacity",
        env: "ROOST_HOT_KEYS_CAPACITY",
        default: "2048",
        help: "keys the hot-key table tracks at once, about 120 bytes each (64 to 65536); the API lists at most 1000",
    },
    Setting {
        key: "hot_keys_half_life",
        env: "ROOST_HOT_KEYS_HALF_LIFE",
        default: "2000",
        help: "milliseconds for a key's weight in the hot-key table to halve once nobody asks for it: the window rates are estimated over (200 to 600000)",
    },
    Setting {
        key: "hot_keys_hot_set",
        env: "ROOST_HOT_KEYS_HOT_SET",
        default: "256",
        help: "how many of the hottest keys count as hot for the near cache (1 to ROOST_HOT_KEYS_CAPACITY)",
    },
    Setting {
        key: "shards",
        env: "ROOST_SHARDS",
        default: "",
        help: "number of embedded shards (ring nodes); unset means one per CPU core",
    },
    Setting {
        key: "max_memory",
        env: "ROOST_MAX_MEMORY",
        default: "256MiB",
        help: "memory cap of the embedded store (keys, values and per-entry overhead), e.g. 256MiB or 2GiB",
    },
    Setting {
        key: "eviction_policy",
        env: "ROOST_EVICTION_POLICY",
        default: "",
        help: "eviction policy of the embedded store; unset means the measured default",
    },
    Setting {
        key: "max_key_bytes",
        env: "ROOST_MAX_KEY_BYTES",
        default: "512",
        help: "longest accepted key in bytes (1 to 65536)",
    },
    Setting {
        key: "max_value_bytes",
        env: "ROOST_MAX_VALUE_BYTES",
        default: "1MiB",
        help: "largest accepted value, e.g. 1MiB (at most 512MiB)",
    },
    Setting {
        key: "max_batch_keys",
        env: "ROOST_MAX_BATCH_KEYS",
        default: "1000",
        help: "most keys in one mget or mset (1 to 100000)",
    },
    Setting {
        key: "rest_max_ttl",
        env: "ROOST_REST_MAX_TTL",
        default: "2592000",
        help: "longest ttl a REST write may ask for, in seconds (1 to 315360000; RESP follows Redis: any deadline that fits)",
    },
    Setting {
        key: "max_body_bytes",
        env: "ROOST_MAX_BODY_BYTES",
        default: "16MiB",
        help: "largest accepted HTTP request body",
    },
    Setting {
        key: "admin_token",
        env: "ROOST_ADMIN_TOKEN",
        default: "",
        help: "the secret of user `admin` (role admin: flushes and topology changes too): `Authorization: Bearer <token>` over HTTP, `AUTH admin <token>` over RESP. Setting it turns authentication on for every door",
    },
    Setting {
        key: "api_tokens",
        env: "ROOST_API_TOKENS",
        default: "",
        help: "credentials as `user:role:token,...`, role read, write or admin; a token is an HTTP bearer token and the user's RESP `AUTH user token` password. Any credential turns authentication on for every door",
    },
    Setting {
        key: "api_tokens_file",
        env: "ROOST_API_TOKENS_FILE",
        default: "",
        help: "a file of credentials, one `user role token` per line (`#` comments), added to ROOST_API_TOKENS; keeps tokens out of the environment",
    },
    Setting {
        key: "open_endpoints",
        env: "ROOST_OPEN_ENDPOINTS",
        default: "probes,metrics,openapi",
        help: "HTTP endpoints served without a credential when authentication is on: any of probes (/healthz, /readyz), metrics (/metrics), openapi (/api/openapi.json), or none",
    },
    Setting {
        key: "allow_no_auth",
        env: "ROOST_ALLOW_NO_AUTH",
        default: "false",
        help: "true lets Roost start with a listener on a non-loopback address and no credential configured (it refuses otherwise, and then warns at every start)",
    },
    Setting {
        key: "tls_cert",
        env: "ROOST_TLS_CERT",
        default: "",
        help: "PEM certificate chain; with ROOST_TLS_KEY every listener (REST, dashboard, RESP) speaks TLS on its own port. Reloaded on SIGHUP",
    },
    Setting {
        key: "tls_key",
        env: "ROOST_TLS_KEY",
        default: "",
        help: "PEM private key of ROOST_TLS_CERT",
    },
    Setting {
        key: "tls_client_ca",
        env: "ROOST_TLS_CLIENT_CA",
        default: "",
        help: "PEM CA certificates; when set, clients must present a certificate signed by one of them (mutual TLS)",
    },
    Setting {
        key: "client_output_limit",
        env: "ROOST_CLIENT_OUTPUT_LIMIT",
        default: "64MiB 16MiB 60",
        help: "replies waiting for one RESP client, as Redis's client-output-buffer-limit `<hard> <soft> <seconds>`: past hard, a client that then reads nothing for 1 s is disconnected; above soft for that many seconds, it is disconnected even while reading; 0 turns a part off",
    },
    Setting {
        key: "client_output_budget",
        env: "ROOST_CLIENT_OUTPUT_BUDGET",
        default: "128MiB",
        help: "replies waiting for all slow clients together (RESP and REST); a client whose waiting replies it cannot hold must read within 1 s or is disconnected (1MiB to 1TiB)",
    },
    Setting {
        key: "client_write_timeout",
        env: "ROOST_CLIENT_WRITE_TIMEOUT",
        default: "30",
        help: "seconds a write to a client (RESP or HTTP) may make no progress before the connection is closed; 0 means never (0 to 3600)",
    },
    Setting {
        key: "http_header_timeout",
        env: "ROOST_HTTP_HEADER_TIMEOUT",
        default: "15",
        help: "seconds an HTTP client has to send a request's headers (and to start the next request on a kept-alive connection), and to finish a TLS handshake (1 to 3600)",
    },
    Setting {
        key: "http_request_timeout",
        env: "ROOST_HTTP_REQUEST_TIMEOUT",
        default: "30",
        help: "seconds from a request's headers to its response, body upload included; past it the answer is 408 (1 to 3600)",
    },
    Setting {
        key: "http_max_header_bytes",
        env: "ROOST_HTTP_MAX_HEADER_BYTES",
        default: "16KiB",
        help: "largest request line plus headers; more gets 431 (8KiB to 1MiB)",
    },
    Setting {
        key: "http_max_connections",
        env: "ROOST_HTTP_MAX_CONNECTIONS",
        default: "4096",
        help: "open connections per HTTP listener (API and dashboard each); one more is answered 503 and closed (1 to 1000000)",
    },
    Setting {
        key: "expiry_sweep_interval",
        env: "ROOST_EXPIRY_SWEEP_INTERVAL",
        default: "100",
        help: "milliseconds between background sweeps that remove expired keys (10 to 60000)",
    },
    Setting {
        key: "worker_threads",
        env: "ROOST_WORKER_THREADS",
        default: "",
        help: "threads serving every front door and background task (1 to 1024); unset means one per CPU core. Fewer when Roost shares its host's cores with busy clients (a sidecar)",
    },
    Setting {
        key: "shutdown_timeout",
        env: "ROOST_SHUTDOWN_TIMEOUT",
        default: "30",
        help: "seconds to drain in-flight requests on SIGINT/SIGTERM before exiting",
    },
    Setting {
        key: "shutdown_grace",
        env: "ROOST_SHUTDOWN_GRACE",
        default: "2",
        help: "seconds /readyz answers 503 on SIGINT/SIGTERM before the listeners close, so load balancers stop sending first (0 to 300)",
    },
    Setting {
        key: "log",
        env: "ROOST_LOG",
        default: "info",
        help: "log filter in tracing-subscriber EnvFilter syntax, e.g. info or roost=debug",
    },
    Setting {
        key: "log_format",
        env: "ROOST_LOG_FORMAT",
        default: "text",
        help: "log line format: text or json",
    },
    // Origin read-through and stampede protection (docs/warming.md).
    Setting {
        key: "origin_url",
        env: "ROOST_ORIGIN_URL",
        default: "",
        help: "origin to load a GET or MGET miss from: an http:// or https:// URL template with `{key}` where the key goes, percent-encoded (e.g. http://app:8080/items/{key}); unset means no read-through",
    },
    Setting {
        key: "origin_timeout",
        env: "ROOST_ORIGIN_TIMEOUT",
        default: "1000",
        help: "milliseconds one origin fetch may take, connecting and the whole body included (10 to 600000); also how long a gateway waits for another gateway's fetch of the same key",
    },
    Setting {
        key: "origin_negative_ttl",
        env: "ROOST_ORIGIN_NEGATIVE_TTL",
        default: "5",
        help: "seconds an origin 404 is remembered as a miss in the gateway, so the origin is not asked again; 0 means off",
    },
    Setting {
        key: "origin_stale_if_error",
        env: "ROOST_ORIGIN_STALE_IF_ERROR",
        default: "0",
        help: "seconds past its expiry a value this gateway loaded may still answer when the origin fails (5xx, timeout, refused, too large); 0 means off",
    },
    Setting {
        key: "origin_max_concurrency",
        env: "ROOST_ORIGIN_MAX_CONCURRENCY",
        default: "256",
        help: "origin fetches in flight at once per gateway; a miss that needs one more fails fast with `overloaded` (1 to 1000000)",
    },
    // Warming (issue 15; docs/warming.md).
    Setting {
        key: "warming",
        env: "ROOST_WARMING",
        default: "on",
        help: "intelligent warming: refresh-ahead of hot keys and predictive preloading (both need ROOST_ORIGIN_URL), snapshots (with ROOST_DATA_DIR) and the hottest-first copy to a node added to a Redis fleet; off keeps read-through and single-flight. on or off",
    },
    Setting {
        key: "origin_max_rps",
        env: "ROOST_ORIGIN_MAX_RPS",
        default: "1000",
        help: "origin requests per second warming may make (refreshes and prefetches share this token bucket; client misses never wait on it), 1 to 1000000",
    },
    Setting {
        key: "data_dir",
        env: "ROOST_DATA_DIR",
        default: "",
        help: "directory for the embedded store's snapshot (written every WARMING_INTERVAL and on graceful shutdown, loaded hottest first at start); must be writable; unset means no snapshots",
    },
    Setting {
        key: "snapshot_max_bytes",
        env: "ROOST_SNAPSHOT_MAX_BYTES",
        default: "0",
        help: "most entry bytes a snapshot keeps, hottest first, e.g. 256MiB; 0 means the store's memory cap (ROOST_MAX_MEMORY)",
    },
    Setting {
        key: "ready_after_warm",
        env: "ROOST_READY_AFTER_WARM",
        default: "false",
        help: "GET /readyz answers 503 until the snapshot in ROOST_DATA_DIR is loaded: true or false",
    },
    // Geographic coherence (issue 16; docs/regions.md).
    Setting {
        key: "region",
        env: "ROOST_REGION",
        default: "",
        help: "this region's name (1 to 32 of a-z, 0-9, '-', '_'); set, every write is versioned and logged in ROOST_DATA_DIR for the other regions; unset means a single region",
    },
    Setting {
        key: "region_peers",
        env: "ROOST_REGION_PEERS",
        default: "",
        help: "the other regions, name=http://host:port comma separated (https:// for TLS): the HTTP address of a Roost in each; every region lists the same set",
    },
    Setting {
        key: "geo_mode",
        env: "ROOST_GEO_MODE",
        default: "invalidate",
        help: "what another region's change does here: invalidate (the key is dropped) or replicate (the new value is stored)",
    },
    Setting {
        key: "region_secret",
        env: "ROOST_REGION_SECRET",
        default: "",
        help: "shared secret (at least 16 characters) every replication request carries; required with ROOST_REGION_PEERS; guards the replication endpoints only",
    },
    Setting {
        key: "tombstone_ttl",
        env: "ROOST_TOMBSTONE_TTL",
        default: "86400",
        help: "seconds a delete is remembered so a late older write cannot bring the key back; at least ROOST_GEO_LOG_MAX_AGE (1 to 2592000)",
    },
    Setting {
        key: "max_clock_skew",
        env: "ROOST_MAX_CLOCK_SKEW",
        default: "5000",
        help: "milliseconds a change from another region may be stamped ahead of this region's clock; one further ahead is refused (1 to 3600000)",
    },
    Setting {
        key: "geo_log_max_bytes",
        env: "ROOST_GEO_LOG_MAX_BYTES",
        default: "256MiB",
        help: "the change log's retention by size, e.g. 1GiB; a peer whose cursor falls out of it is resynchronised (1MiB to 1TiB)",
    },
    Setting {
        key: "geo_log_max_age",
        env: "ROOST_GEO_LOG_MAX_AGE",
        default: "86400",
        help: "the change log's retention by age in seconds; at most ROOST_TOMBSTONE_TTL (1 to 2592000)",
    },
];

/// Looks a setting up by its `roost.toml` key.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_env_names_are_unique_and_well_formed() {
        let mut keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
        let mut envs: Vec<_> = SETTINGS.iter().map(|s| s.env).collect();
        keys.sort_unstable();
        envs.sort_unstable();
        keys.dedup();
        envs.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
        assert_eq!(envs.len(), SETTINGS.len());
        for s in SETTINGS {
            let brief = ["REDIS_CLUSTER_NODES", "CACHE_TTL", "WARMING_INTERVAL"];
            assert!(
                s.env.starts_with("ROOST_") || brief.contains(&s.env),
                "{} must be ROOST_-prefixed",
                s.env
            );
            assert!(s.key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
