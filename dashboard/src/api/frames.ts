// Decodes /ws/metrics frames: JSON text in, a typed Frame out, or null for
// anything that is not a frame this dashboard understands.
import type { Frame, HistoryFrame, Point, SnapshotFrame } from './types';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPoint(v: unknown): v is Point {
  return (
    isRecord(v) &&
    typeof v.at_ms === 'number' &&
    typeof v.ops_per_second === 'number' &&
    isRecord(v.latency_ms) &&
    typeof v.keys === 'number'
  );
}

export function parseFrame(text: string): Frame | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(data) || typeof data.interval_ms !== 'number') return null;
  if (data.type === 'history' && Array.isArray(data.points) && data.points.every(isPoint)) {
    return data as unknown as HistoryFrame;
  }
  if (
    data.type === 'snapshot' &&
    isPoint(data.point) &&
    Array.isArray(data.nodes) &&
    Array.isArray(data.events) &&
    isRecord(data.memory)
  ) {
    return data as unknown as SnapshotFrame;
  }
  return null;
}
