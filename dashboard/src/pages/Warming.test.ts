// The panel rendered to HTML (react-dom/server, no browser) for each state the
// answer can put it in; the browser check is e2e/dashboard.e2e.mjs.
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { ApiError } from '../api/rest';
import { initialWarming, type WarmingState } from '../data/warming';
import { sampleWarming } from '../data/warming.sample';
import { WarmingView } from './Warming';

const AT = 1_700_000_012_000; // 12 s after the sample's last snapshot

function html(state: Partial<WarmingState>): string {
  return renderToStaticMarkup(createElement(WarmingView, { state: { ...initialWarming, atMs: AT, ...state } }));
}

/** The text inside the element with `data-testid="id"` (tags stripped). */
function textOf(markup: string, id: string): string | null {
  const at = markup.indexOf(`data-testid="${id}"`);
  if (at < 0) return null;
  const start = markup.indexOf('>', at) + 1;
  let depth = 1;
  let i = start;
  const tag = /<(\/?)([a-z0-9]+)[^>]*?(\/?)>/gi;
  tag.lastIndex = start;
  for (let m = tag.exec(markup); m !== null; m = tag.exec(markup)) {
    const voidTag = /^(br|img|input|hr|meta|link)$/i.test(m[2] ?? '');
    if (m[1] === '/') depth -= 1;
    else if (m[3] !== '/' && !voidTag) depth += 1;
    i = m.index;
    if (depth === 0) break;
  }
  return markup.slice(start, i).replace(/<[^>]+>/g, '').replace(/&#x27;/g, "'").replace(/\s+/g, ' ').trim();
}

describe('the warming panel', () => {
  it('shows rates, precision, coverage, the budget, the snapshot, the load and node warm-ups', () => {
    const m = html({ answer: sampleWarming() });
    expect(textOf(m, 'warming-state')).toBe('on');
    expect(textOf(m, 'warming-interval')).toBe('cycle every 1m');
    expect(textOf(m, 'warming-refresh-rate')).toContain('0.5');
    expect(textOf(m, 'warming-prefetch-rate')).toContain('3.0');
    expect(textOf(m, 'warming-precision')).toContain('80.0%');
    expect(textOf(m, 'warming-coverage')).toContain('70.0%');
    expect(textOf(m, 'warming-budget')).toContain('12.5 / 1,000');
    expect(m).toContain('1.3%'); // 12.5 of 1000 requests/s
    expect(textOf(m, 'warming-snapshot-age')).toBe('12 s ago');
    expect(textOf(m, 'warming-snapshot-size')).toBe('1,234 entries · 1.5 MiB · written in 42.0 ms');
    expect(textOf(m, 'warming-load-state')).toBe('done');
    expect(textOf(m, 'warming-load')).toContain('1,200 entries · 3 skipped · 7.00 ms · 22 s ago');
    expect(textOf(m, 'warmup-node')).toBe('n4');
    expect(textOf(m, 'warmup-progress')).toBe('50%');
    expect(m).not.toContain('data-testid="warming-no-origin"');
    expect(m).not.toContain('data-testid="warming-stale"');
  });

  it('says when warming is off, and shows none of the figures', () => {
    const m = html({ answer: sampleWarming({ enabled: false }) });
    expect(textOf(m, 'warming-state')).toBe('off');
    expect(textOf(m, 'warming-off')).toContain('Warming is off (ROOST_WARMING=off)');
    expect(m).not.toContain('data-testid="warming-precision"');
  });

  it('shows dashes before anything was prefetched, and no snapshot or warm-up when there is none', () => {
    const answer = sampleWarming({ origin: false, snapshot: null, node_warmups: [] });
    answer.prefetch = { ...answer.prefetch, precision: null, coverage: null };
    const m = html({ answer });
    expect(textOf(m, 'warming-precision')).toContain('—');
    expect(m).toContain('nothing prefetched yet');
    expect(m).toContain('no follow-up reads yet');
    expect(textOf(m, 'warming-coverage')).toContain('—');
    expect(m).toContain('data-testid="warming-no-origin"');
    expect(textOf(m, 'warming-no-snapshots')).toContain('ROOST_DATA_DIR is unset');
    expect(m).toContain('none: nodes are warmed when they join or return to a Redis fleet');
  });

  it('shows a snapshot not written yet, a failed snapshot and a load in progress', () => {
    const m1 = html({ answer: sampleWarming({ snapshot: { last_snapshot: null, last_load: null } }) });
    expect(textOf(m1, 'warming-snapshot')).toContain('none written yet');
    const answer = sampleWarming({
      snapshot: {
        last_snapshot: { at_ms: AT - 3_000, entries: 0, bytes: 0, duration_ms: 1, error: 'disk full' },
        last_load: { at_ms: AT - 1_000, state: 'loading', entries: 500, skipped: 0, duration_ms: 0, error: null },
      },
    });
    const m2 = html({ answer });
    expect(textOf(m2, 'warming-snapshot-error')).toBe('last snapshot failed: disk full');
    expect(textOf(m2, 'warming-load-state')).toBe('loading');
    expect(m2).not.toContain('data-testid="warming-load-error"');
  });

  it('keeps the last answer on screen with a warning when a refresh fails', () => {
    const m = html({ answer: sampleWarming(), error: new ApiError(0, 'unreachable', 'cannot reach Roost') });
    expect(textOf(m, 'warming-stale')).toContain('last refresh failed (unreachable)');
    expect(textOf(m, 'warming-precision')).toContain('80.0%');
  });

  it('says so on a server without the warming API, or when the first poll fails', () => {
    expect(textOf(html({ missing: true }), 'warming-missing')).toContain('answers 404');
    expect(textOf(html({ error: new ApiError(503, 'unavailable', 'busy') }), 'warming-error')).toBe('unavailable: busy');
  });

  it('marks a stopped warm-up and lists those in progress first', () => {
    const answer = sampleWarming({
      node_warmups: [
        { node: 'n2', reason: 'readmitted', state: 'stopped', copied: 5, skipped: 0, total: 20, started_at_ms: AT - 9_000, finished_at_ms: AT - 8_000 },
        { node: 'n5', reason: 'added', state: 'copying', copied: 1, skipped: 1, total: 4, started_at_ms: AT - 2_000, finished_at_ms: null },
      ],
    });
    const m = html({ answer });
    expect(m.indexOf('>n5<')).toBeLessThan(m.indexOf('>n2<'));
    expect(m).toContain('re-admitted');
    expect(m).toContain('ant-progress-status-exception');
    expect(m).toContain('9 s ago, took 1.00 s');
  });
});
