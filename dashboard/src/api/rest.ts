// The REST calls the dashboard makes. Every failure becomes an ApiError with
// the server's `{"error":{"code","message"}}` when it sent one. Credentials
// travel in the `roost_token` cookie that signIn() makes the server set, so no
// call here handles a token after signing in.
import type {
  ClusterNode,
  ClusterNodesResponse,
  DeleteResponse,
  GetResponse,
  HotKeysResponse,
  Identity,
  JsonValue,
  MgetResponse,
  RegionsResponse,
  SetResponse,
  SignOutResponse,
  WarmingResponse,
} from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

function errorOf(status: number, body: unknown): ApiError {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const error: unknown = body.error;
    if (
      typeof error === 'object' &&
      error !== null &&
      'code' in error &&
      'message' in error &&
      typeof error.code === 'string' &&
      typeof error.message === 'string'
    ) {
      return new ApiError(status, error.code, error.message);
    }
  }
  return new ApiError(status, `http_${status}`, `the server answered ${status}`);
}

type RefusalListener = (error: ApiError) => void;
const refusalListeners = new Set<RefusalListener>();

/**
 * Calls `listener` whenever the server refuses a data call's credential: 401
 * (none, or the cookie is gone) or 403 (an unknown token, or a role too low).
 * The `/api/auth/` calls report to their caller instead. Returns an unsubscribe.
 */
export function onRefused(listener: RefusalListener): () => void {
  refusalListeners.add(listener);
  return () => {
    refusalListeners.delete(listener);
  };
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'unreachable', `cannot reach Roost: ${String(e)}`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = errorOf(response.status, parsed);
    if ((error.status === 401 || error.status === 403) && !path.startsWith('/api/auth/')) {
      refusalListeners.forEach((listener) => listener(error));
    }
    throw error;
  }
  return parsed as T;
}

function isIdentity(v: unknown): v is Identity {
  return (
    typeof v === 'object' &&
    v !== null &&
    'user' in v &&
    'role' in v &&
    'auth' in v &&
    typeof v.user === 'string' &&
    (v.role === 'read' || v.role === 'write' || v.role === 'admin') &&
    typeof v.auth === 'boolean'
  );
}

async function identity(pending: Promise<unknown>): Promise<Identity> {
  const body = await pending;
  if (!isIdentity(body)) throw new ApiError(200, 'bad_reply', 'the server did not say who you are');
  return body;
}

/** Who the page's credential belongs to; 401 without one. */
export const whoami = () => identity(request<unknown>('GET', '/api/auth/whoami'));

/** Checks `token` and has the server keep it in the `roost_token` cookie; 403 for an unknown token. */
export const signIn = (token: string) => identity(request<unknown>('POST', '/api/auth/session', { token }));

/** Has the server clear the `roost_token` cookie (JavaScript cannot: it is HttpOnly). */
export const signOut = () => request<SignOutResponse>('DELETE', '/api/auth/session');

const keyPath = (key: string) => `/api/cache/${encodeURIComponent(key)}`;

export const getKey = (key: string) => request<GetResponse>('GET', keyPath(key));

export const setKey = (key: string, value: JsonValue, ttl: number | null) =>
  request<SetResponse>('POST', '/api/cache', ttl === null ? { key, value } : { key, value, ttl });

export const deleteKey = (key: string) => request<DeleteResponse>('DELETE', keyPath(key));

export const mget = (keys: string[]) => request<MgetResponse>('POST', '/api/cache/mget', { keys });

/** The hottest keys now, hottest first; `limit` is 1 to 1000. */
export const hotKeys = (limit: number) =>
  request<HotKeysResponse>('GET', `/api/cache/hot-keys?limit=${encodeURIComponent(String(limit))}`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNullOrObject = (v: unknown) => v === null || isObject(v);

/**
 * Whether `v` has the parts of a warming answer the panel walks into (numbers it
 * only formats may be missing: they read as a dash). Guards against a server that
 * answers this path with something else, e.g. a key named `warming` before the API.
 */
export function isWarmingResponse(v: unknown): v is WarmingResponse {
  if (!isObject(v)) return false;
  const { snapshot } = v;
  return (
    typeof v.enabled === 'boolean' &&
    typeof v.interval_ms === 'number' &&
    typeof v.origin === 'boolean' &&
    ['budget', 'refresh', 'prefetch', 'warmup'].every((part) => isObject(v[part])) &&
    (snapshot === null ||
      (isObject(snapshot) && isNullOrObject(snapshot.last_snapshot) && isNullOrObject(snapshot.last_load))) &&
    Array.isArray(v.node_warmups) &&
    v.node_warmups.every(isObject)
  );
}

/** What warming is doing now; a server without the warming API answers `missing`. */
export async function warmingStatus(): Promise<Probe<WarmingResponse>> {
  const answer = await probe<unknown>('/api/cache/warming');
  if (answer.state !== 'available') return answer;
  if (isWarmingResponse(answer.data)) return { state: 'available', data: answer.data };
  return { state: 'error', error: new ApiError(200, 'bad_reply', 'the warming answer is not in the expected shape') };
}

const isCount = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/**
 * Whether `v` is a `GET /api/regions` answer: `{"enabled":false}`, or a region with
 * its log and peers (numbers the page only prints are not checked; they read as a
 * dash). Versions are u64 in decimal strings.
 */
export function isRegionsResponse(v: unknown): v is RegionsResponse {
  if (!isObject(v)) return false;
  if (v.enabled === false) return true;
  const { log, peers } = v;
  return (
    typeof v.region === 'string' &&
    (v.mode === 'invalidate' || v.mode === 'replicate') &&
    typeof v.version === 'string' &&
    isObject(log) &&
    Array.isArray(peers) &&
    peers.every(
      (p) =>
        isObject(p) &&
        typeof p.name === 'string' &&
        typeof p.url === 'string' &&
        (p.state === 'connecting' || p.state === 'up' || p.state === 'down') &&
        typeof p.last_applied_version === 'string' &&
        isCount(p.lag_ms) &&
        isCount(p.lag_changes),
    )
  );
}

/** This region and its links; a server without geo answers `missing`. */
export async function regionsStatus(): Promise<Probe<RegionsResponse>> {
  const answer = await probe<unknown>('/api/regions');
  if (answer.state !== 'available') return answer;
  if (isRegionsResponse(answer.data)) return { state: 'available', data: answer.data };
  return { state: 'error', error: new ApiError(200, 'bad_reply', 'the regions answer is not in the expected shape') };
}

/** The Prometheus text of `GET /metrics`; null when it cannot be had (the page does without). */
export async function metricsText(): Promise<string | null> {
  try {
    const response = await fetch('/metrics');
    return response.ok ? await response.text() : null;
  } catch {
    return null;
  }
}

export const listClusterNodes = () => request<ClusterNodesResponse>('GET', '/api/cluster/nodes');

export const addClusterNode = (address: string) =>
  request<ClusterNode>('POST', '/api/cluster/nodes', { address });

export const drainClusterNode = (id: string) =>
  request<unknown>('DELETE', `/api/cluster/nodes/${encodeURIComponent(id)}`);

/** A feature endpoint that may not exist in this server version. */
export type Probe<T> = { state: 'available'; data: T } | { state: 'missing' } | { state: 'error'; error: ApiError };

/** GETs `path`; a 404 `no_route` means the server has no such API yet. */
export async function probe<T>(path: string): Promise<Probe<T>> {
  try {
    return { state: 'available', data: await request<T>('GET', path) };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return { state: 'missing' };
    if (e instanceof ApiError) return { state: 'error', error: e };
    throw e;
  }
}
