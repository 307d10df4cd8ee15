// The REST calls the dashboard makes. Every failure becomes an ApiError with
// the server's `{"error":{"code","message"}}` when it sent one.
import type {
  ClusterNode,
  ClusterNodesResponse,
  DeleteResponse,
  GetResponse,
  JsonValue,
  MgetResponse,
  SetResponse,
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
  if (!response.ok) throw errorOf(response.status, parsed);
  return parsed as T;
}

const keyPath = (key: string) => `/api/cache/${encodeURIComponent(key)}`;

export const getKey = (key: string) => request<GetResponse>('GET', keyPath(key));

export const setKey = (key: string, value: JsonValue, ttl: number | null) =>
  request<SetResponse>('POST', '/api/cache', ttl === null ? { key, value } : { key, value, ttl });

export const deleteKey = (key: string) => request<DeleteResponse>('DELETE', keyPath(key));

export const mget = (keys: string[]) => request<MgetResponse>('POST', '/api/cache/mget', { keys });

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
