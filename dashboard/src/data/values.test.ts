import { describe, expect, it } from 'vitest';

import { valueFromInput } from './values';

describe('valueFromInput', () => {
  it('stores JSON as JSON and anything else as text', () => {
    expect(valueFromInput('{"name":"Ada"}')).toEqual({ name: 'Ada' });
    expect(valueFromInput('42')).toBe(42);
    expect(valueFromInput('hello world')).toBe('hello world');
    expect(valueFromInput('')).toBe('');
  });
});
