-- wrk script for bench/compare.sh: GET of keys drawn uniformly from the preloaded
-- keyspace (key:000000000000 .., redis-benchmark's names), under PATH_PREFIX:
-- /api/cache/ for Roost's REST API, /GET/ for webdis. A 404 or any other non-2xx
-- answer is counted by wrk as "Non-2xx or 3xx responses" and the script reports it.
local keyspace = tonumber(os.getenv("KEYSPACE") or "100000")
local prefix = os.getenv("PATH_PREFIX") or "/api/cache/"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local key = string.format("key:%012d", math.random(0, keyspace - 1))
  return wrk.format("GET", prefix .. key)
end
