import { describe, expect, it } from 'vitest';

import { BASE_MS, MAX_MS, reconnectDelay } from './backoff';

describe('reconnectDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    const top = () => 0.999999;
    expect(reconnectDelay(0, top)).toBe(BASE_MS);
    expect(reconnectDelay(1, top)).toBe(BASE_MS * 2);
    expect(reconnectDelay(3, top)).toBe(BASE_MS * 8);
    expect(reconnectDelay(10, top)).toBe(MAX_MS);
    expect(reconnectDelay(1_000, top)).toBe(MAX_MS);
  });

  it('jitters between half and all of the step', () => {
    expect(reconnectDelay(2, () => 0)).toBe(BASE_MS * 2);
    expect(reconnectDelay(2, () => 0.5)).toBe(BASE_MS * 3);
  });
});
