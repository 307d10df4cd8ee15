// The page rendered to HTML (react-dom/server, no browser) for each state the
// answer can put it in; the browser check is e2e/dashboard.e2e.mjs.
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { ApiError } from '../api/rest';
import type { RoostEvent } from '../api/types';
import { initialRegions, regionsReducer, type RegionsState } from '../data/regions';
import { sampleMetrics, samplePeer, sampleRegions } from '../data/regions.sample';
import { RegionsView } from './Regions';

const AT = 1_700_000_030_000; // 30 s after eu's link came up

function html(state: Partial<RegionsState>, events: RoostEvent[] = []): string {
  return renderToStaticMarkup(createElement(RegionsView, { state: { ...initialRegions, atMs: AT, ...state }, events }));
}

/** Every text inside elements with `data-testid="id"` (tags stripped), in order. */
function textsOf(markup: string, id: string): string[] {
  const texts: string[] = [];
  let from = 0;
  for (;;) {
    const at = markup.indexOf(`data-testid="${id}"`, from);
    if (at < 0) return texts;
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
    texts.push(markup.slice(start, i).replace(/<[^>]+>/g, '').replace(/&#x27;/g, "'").replace(/\s+/g, ' ').trim());
    from = start;
  }
}

const textOf = (markup: string, id: string) => textsOf(markup, id)[0] ?? null;

const event = (seq: number, message: string): RoostEvent => ({ seq, at_ms: AT - 1000 * (10 - seq), kind: 'region', message });

describe('the regions page', () => {
  it('shows this region, its mode, clock and log, and every link with its figures', () => {
    const m = html({ answer: sampleRegions() });
    expect(textOf(m, 'regions-region')).toBe('us');
    expect(textOf(m, 'regions-mode')).toBe('invalidate');
    expect(textOf(m, 'regions-links-up')).toBe('1 / 2 links up');
    expect(textOf(m, 'regions-version')).toBe('3565158461865984770');
    // Its top 42 bits: 1_700_000_029_500 ms, 2023-11-14T22:13:49.500Z.
    expect(textOf(m, 'regions-clock')).toContain('22:13:49.500');
    expect(textOf(m, 'regions-log')).toContain('1.0 MiB');
    expect(m).toContain('2 segments · changes 1 to 5,120');
    expect(textOf(m, 'regions-applying')).toContain('251'); // 250.5 + 0 changes/s
    expect(textOf(m, 'regions-worst-lag')).toContain('5.30 s');
    // The down link first.
    expect(textsOf(m, 'region-peer-name')).toEqual(['ap', 'eu']);
    expect(textsOf(m, 'region-peer-state')).toEqual(['down', 'up']);
    expect(m).toContain('data-state="down"');
    expect(m).toContain('ant-tag-error');
    expect(m).toContain('ant-tag-success');
    expect(textsOf(m, 'region-peer-lag')).toEqual(['120 changes · 5.30 s', '3 changes · 41.5 ms']);
    expect(textsOf(m, 'region-peer-version')).toEqual(['3565158450751080192', '3565158461777903617']);
    expect(textsOf(m, 'region-peer-rate')).toEqual(['0.0', '251']);
    expect(textsOf(m, 'region-peer-conflicts')).toEqual(['0', '7']);
    expect(textsOf(m, 'region-peer-resyncs')).toEqual(['1', '0']);
    expect(textsOf(m, 'region-peer-refused')).toEqual(['2', '0']);
    expect(textsOf(m, 'region-peer-error')).toEqual(['connection refused']);
    expect(m).toContain('30 s ago'); // eu up since
    expect(m).not.toContain('data-testid="regions-stale"');
  });

  it('says where the staleness chart comes from', () => {
    let s = regionsReducer(initialRegions, { ok: true, value: { probe: { state: 'available', data: sampleRegions() }, metrics: sampleMetrics([0, 1, 2, 3, 3]) } }, AT);
    expect(textOf(html(s), 'regions-staleness-source')).toContain('roost_geo_staleness_seconds');
    s = regionsReducer(initialRegions, { ok: true, value: { probe: { state: 'available', data: sampleRegions() }, metrics: null } }, AT);
    expect(textOf(html(s), 'regions-staleness-source')).toContain('lag_ms');
  });

  it('lists region events newest first', () => {
    const m = html({ answer: sampleRegions() }, [event(1, 'link to ap down: connection refused'), event(2, 'link to eu up')]);
    expect(textsOf(m, 'region-event')).toEqual(['link to eu up', 'link to ap down: connection refused']);
    expect(html({ answer: sampleRegions() })).toContain('no region events since this page opened');
  });

  it('says so plainly on a single-region Roost, and how to configure regions', () => {
    const m = html({ answer: { enabled: false } });
    expect(textOf(m, 'regions-state')).toBe('single region');
    const single = textOf(m, 'regions-single') ?? '';
    expect(single).toContain('This Roost runs a single region: ROOST_REGION is not set');
    for (const setting of ['ROOST_REGION=', 'ROOST_REGION_PEERS=', 'ROOST_REGION_SECRET=', 'ROOST_DATA_DIR=']) {
      expect(textOf(m, 'regions-example')).toContain(setting);
    }
    expect(single).toContain('docs/regions.md');
    expect(m).not.toContain('data-testid="regions-peers"');
  });

  it('shows a region without peers', () => {
    const m = html({ answer: sampleRegions({ peers: [] }) });
    expect(textOf(m, 'regions-links-up')).toBe('0 / 0 links up');
    expect(m).toContain('no peers: ROOST_REGION_PEERS is empty');
    expect(textOf(m, 'regions-worst-lag')).toContain('—');
  });

  it('keeps the last answer with a warning when a refresh fails; says so when there is none', () => {
    const m = html({ answer: sampleRegions(), error: new ApiError(0, 'unreachable', 'cannot reach Roost') });
    expect(textOf(m, 'regions-stale')).toContain('last refresh failed (unreachable)');
    expect(textsOf(m, 'region-peer-name')).toEqual(['ap', 'eu']);
    expect(textOf(html({ missing: true }), 'regions-missing')).toContain('answers 404');
    expect(textOf(html({ error: new ApiError(503, 'unavailable', 'busy') }), 'regions-error')).toBe('unavailable: busy');
    expect(html({ answer: sampleRegions({ peers: [samplePeer({ state: 'connecting' })] }) })).toContain('ant-tag-processing');
  });
});
