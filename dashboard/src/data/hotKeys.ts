// The hot-keys page's data: polls GET /api/cache/hot-keys once a second while
// the page is open (the list changes with every fold; the metrics stream
// carries no keys), and turns an answer into the rows the table shows.
import { useEffect, useState } from 'react';

import { ApiError, hotKeys } from '../api/rest';
import type { HotKey, HotKeysResponse } from '../api/types';
import { startPolling } from './poll';

export const HOT_KEYS_POLL_MS = 1000;
export const HOT_KEY_LIMITS = [10, 20, 50, 100] as const;

/** One row of the table. */
export interface HotKeyRow {
  rank: number;
  /** What to show for the key: the text, or `base64:…` for bytes that are not UTF-8, `…` when cut. */
  label: string;
  /** A stable React key: the row's key and its encoding. */
  id: string;
  requestsPerSec: number;
  share: number;
  node: string;
  nearCached: boolean;
  truncatedFrom: number | null;
}

export function labelOf(key: HotKey): string {
  const text = key.key_encoding === 'base64' ? `base64:${key.key}` : key.key;
  return key.truncated ? `${text}…` : text;
}

export function hotKeyRows(answer: HotKeysResponse): HotKeyRow[] {
  return answer.keys.map((k, i) => ({
    rank: i + 1,
    label: labelOf(k),
    id: `${k.key_encoding}:${k.key}:${k.key_bytes}`,
    requestsPerSec: k.requests_per_sec,
    share: k.share,
    node: k.node ?? '—',
    nearCached: k.near_cached,
    truncatedFrom: k.truncated ? k.key_bytes : null,
  }));
}

/** The share the listed keys take together (0 to 1). */
export function listedShare(answer: HotKeysResponse): number {
  return Math.min(1, answer.keys.reduce((sum, k) => sum + k.share, 0));
}

export interface HotKeysState {
  answer: HotKeysResponse | null;
  error: ApiError | null;
}

/** Polls the hot-key list every `everyMs` while mounted; keeps the last answer through a failed poll. */
export function useHotKeys(limit: number, everyMs = HOT_KEYS_POLL_MS): HotKeysState {
  const [state, setState] = useState<HotKeysState>({ answer: null, error: null });
  useEffect(
    () =>
      startPolling(
        () => hotKeys(limit),
        everyMs,
        (r) => setState((s) => (r.ok ? { answer: r.value, error: null } : { answer: s.answer, error: r.error })),
      ),
    [limit, everyMs],
  );
  return state;
}
