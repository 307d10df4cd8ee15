// The warming panel's data: polls GET /api/cache/warming once a second while the
// panel is open (its counters and the snapshot's age move continuously; the
// metrics stream carries none of them), keeps the last answer through a failed
// poll, and turns parts of an answer into what the panel shows.
import { useEffect, useState } from 'react';

import { ApiError, warmingStatus, type Probe } from '../api/rest';
import type { NodeWarmup, WarmingResponse } from '../api/types';
import { formatMs, formatTtl } from '../format';
import { startPolling, type PollResult } from './poll';

export const WARMING_POLL_MS = 1000;

export interface WarmingState {
  /** The last answer; null before the first, or when the server has no warming API. */
  answer: WarmingResponse | null;
  /** The server answered 404: this version has no warming API. */
  missing: boolean;
  /** The last poll's failure; cleared by the next answer. */
  error: ApiError | null;
  /** This browser's clock when `answer` arrived: what "ago" is measured from. */
  atMs: number;
}

export const initialWarming: WarmingState = { answer: null, missing: false, error: null, atMs: 0 };

/** The state after one poll answered at `atMs`: a failure keeps the previous answer on screen. */
export function warmingReducer(state: WarmingState, result: PollResult<Probe<WarmingResponse>>, atMs: number): WarmingState {
  if (!result.ok) return { ...state, error: result.error };
  const probe = result.value;
  switch (probe.state) {
    case 'available':
      return { answer: probe.data, missing: false, error: null, atMs };
    case 'missing':
      return { answer: null, missing: true, error: null, atMs };
    case 'error':
      return { ...state, error: probe.error };
  }
}

/** Polls the warming status every `everyMs` while mounted. */
export function useWarming(everyMs = WARMING_POLL_MS): WarmingState {
  const [state, setState] = useState<WarmingState>(initialWarming);
  useEffect(
    () => startPolling(warmingStatus, everyMs, (result) => setState((s) => warmingReducer(s, result, Date.now()))),
    [everyMs],
  );
  return state;
}

/** `WARMING_INTERVAL` as read: whole seconds as a duration ("1m", "5 s"), anything else in ms or s. */
export function intervalLabel(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? formatTtl(ms / 1000) : formatMs(ms);
}

/** How much of the origin budget background fetches use now, 0 to 1. */
export function budgetShare(budget: WarmingResponse['budget']): number {
  if (!(budget.max_rps > 0)) return 0;
  return Math.min(1, Math.max(0, budget.used_per_sec / budget.max_rps));
}

export interface WarmupProgress {
  /** Keys dealt with (copied or skipped because the node had them), 0 to 100. */
  percent: number;
  status: 'active' | 'success' | 'exception';
}

/** A node warm-up's progress bar: copied and skipped keys out of the total planned. */
export function warmupProgress(w: NodeWarmup): WarmupProgress {
  const status = w.state === 'done' ? 'success' : w.state === 'stopped' ? 'exception' : 'active';
  if (w.total <= 0) return { percent: w.state === 'done' ? 100 : 0, status };
  const percent = Math.min(100, Math.floor(((w.copied + w.skipped) * 100) / w.total));
  return { percent, status };
}

export const LOAD_STATE_COLOURS: Record<string, string> = {
  loading: 'processing',
  done: 'success',
  failed: 'error',
  skipped: 'default',
};

/** Warm-ups in progress first, then the most recently started. */
export function orderedWarmups(list: NodeWarmup[]): NodeWarmup[] {
  return [...list].sort(
    (a, b) => Number(b.state === 'copying') - Number(a.state === 'copying') || b.started_at_ms - a.started_at_ms,
  );
}
