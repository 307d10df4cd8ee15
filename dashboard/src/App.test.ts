import { describe, expect, it } from 'vitest';

import { pageFromHash } from './App';

describe('pageFromHash', () => {
  it('opens the page the hash names, Warming for the old #/more, the Overview otherwise', () => {
    expect(pageFromHash('#/regions')).toBe('regions');
    expect(pageFromHash('#/warming')).toBe('warming');
    expect(pageFromHash('#/more')).toBe('warming');
    expect(pageFromHash('#hot')).toBe('hot');
    expect(pageFromHash('')).toBe('overview');
    expect(pageFromHash('#/nope')).toBe('overview');
  });
});
