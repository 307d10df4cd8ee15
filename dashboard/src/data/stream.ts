// The live view of the metrics stream: connection state, the rolling series and
// the newest snapshot, kept by a pure reducer (tested) behind a React hook.
import { useEffect, useReducer } from 'react';

import { MetricsConnection, type ConnectionState } from '../api/connection';
import type { Frame, SnapshotFrame } from '../api/types';
import { metricsSocketUrl } from '../api/urls';
import { append, fromHistory, type SeriesPoint } from './series';

export interface StreamState {
  connection: ConnectionState;
  series: SeriesPoint[];
  latest: SnapshotFrame | null;
}

export type StreamAction =
  | { type: 'frame'; frame: Frame }
  | { type: 'connection'; state: ConnectionState };

export const initialStream: StreamState = {
  connection: { status: 'connecting', attempt: 0, retryAt: null },
  series: [],
  latest: null,
};

export function streamReducer(state: StreamState, action: StreamAction): StreamState {
  if (action.type === 'connection') return { ...state, connection: action.state };
  const frame = action.frame;
  if (frame.type === 'history') return { ...state, series: fromHistory(frame.points) };
  return { ...state, series: append(state.series, frame.point), latest: frame };
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
