// The live view of the metrics stream: connection state, the rolling series and
// the newest snapshot, kept by a pure reducer (tested) behind a React hook.
import { useEffect, useReducer } from 'react';

import { MetricsConnection, type ConnectionState } from '../api/connection';
import type { Frame, RoostEvent, SnapshotFrame } from '../api/types';
import { metricsSocketUrl } from '../api/urls';
import { append, fromHistory, type SeriesPoint } from './series';

export interface StreamState {
  connection: ConnectionState;
  series: SeriesPoint[];
  latest: SnapshotFrame | null;
  /**
   * `region` events seen since the page opened, oldest first, at most
   * REGION_EVENTS_KEPT: a frame carries only the newest few events of every kind,
   * so a link's events would scroll away behind busier ones.
   */
  regionEvents: RoostEvent[];
}

export const REGION_EVENTS_KEPT = 100;

const eventId = (e: RoostEvent) => `${e.seq}@${e.at_ms}`;

/**
 * `kept` with the `region` events of `incoming` it does not have yet, the newest
 * REGION_EVENTS_KEPT. An event is known by its seq and time together: a restarted
 * server counts seq from the start again.
 */
export function keepRegionEvents(kept: RoostEvent[], incoming: RoostEvent[]): RoostEvent[] {
  const known = new Set(kept.map(eventId));
  const fresh = incoming.filter((e) => e.kind === 'region' && !known.has(eventId(e)));
  if (fresh.length === 0) return kept;
  return [...kept, ...fresh].sort((a, b) => a.at_ms - b.at_ms || a.seq - b.seq).slice(-REGION_EVENTS_KEPT);
}

export type StreamAction =
  | { type: 'frame'; frame: Frame }
  | { type: 'connection'; state: ConnectionState };

export const initialStream: StreamState = {
  connection: { status: 'connecting', attempt: 0, retryAt: null },
  series: [],
  latest: null,
  regionEvents: [],
};

export function streamReducer(state: StreamState, action: StreamAction): StreamState {
  if (action.type === 'connection') return { ...state, connection: action.state };
  const frame = action.frame;
  if (frame.type === 'history') return { ...state, series: fromHistory(frame.points) };
  return {
    ...state,
    series: append(state.series, frame.point),
    latest: frame,
    regionEvents: keepRegionEvents(state.regionEvents, frame.events),
  };
}

/** Subscribes to /ws/metrics for the life of the component. */
export function useMetricsStream(): StreamState {
  const [state, dispatch] = useReducer(streamReducer, initialStream);
  useEffect(() => {
    const connection = new MetricsConnection(
      metricsSocketUrl(window.location),
      (frame) => dispatch({ type: 'frame', frame }),
      (s) => dispatch({ type: 'connection', state: s }),
    );
    connection.start();
    return () => connection.stop();
  }, []);
  return state;
}
