// How numbers read on screen. Pure functions, unit-tested.

const DASH = '—';

export function formatOps(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond)) return DASH;
  if (perSecond >= 1_000_000) return `${(perSecond / 1_000_000).toFixed(2)}M`;
  if (perSecond >= 10_000) return `${(perSecond / 1_000).toFixed(1)}k`;
  if (perSecond >= 100) return Math.round(perSecond).toString();
  return perSecond.toFixed(1);
}

export function formatPercent(ratio: number | null | undefined, digits = 1): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return DASH;
  return `${(ratio * 100).toFixed(digits)}%`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) return DASH;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A TTL in seconds as the API returns it; null is "never expires". */
export function formatTtl(seconds: number | null | undefined): string {
  if (seconds === undefined) return DASH;
  if (seconds === null) return 'no expiry';
  if (seconds < 60) return `${seconds} s`;
  const parts: string[] = [];
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3_600);
  const m = Math.floor((seconds % 3_600) / 60);
  const s = seconds % 60;
  if (d > 0) parts.push(`${d}d`);
  if (h > 0) parts.push(`${h}h`);
  if (m > 0) parts.push(`${m}m`);
  if (s > 0 && d === 0) parts.push(`${s}s`);
  return parts.join(' ');
}

/** How long before `nowMs` something happened at `atMs` (unix ms); a clock ahead of ours reads "just now". */
export function formatAgo(atMs: number | null | undefined, nowMs: number): string {
  if (atMs === null || atMs === undefined || !Number.isFinite(atMs)) return DASH;
  const seconds = Math.floor(Math.max(0, nowMs - atMs) / 1000);
  if (seconds < 1) return 'just now';
  return `${formatTtl(seconds)} ago`;
}

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  return n.toLocaleString('en-US');
}

export function formatClock(atMs: number): string {
  return new Date(atMs).toISOString().slice(11, 19);
}

export function formatUptime(seconds: number): string {
  return formatTtl(Math.floor(seconds));
}
