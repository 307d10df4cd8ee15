import { describe, expect, it } from 'vitest';

import { allows, refusal } from './roles';

describe('allows', () => {
  it('orders read < write < admin', () => {
    expect(allows('read', 'read')).toBe(true);
    expect(allows('read', 'write')).toBe(false);
    expect(allows('write', 'write')).toBe(true);
    expect(allows('write', 'admin')).toBe(false);
    expect(allows('admin', 'read')).toBe(true);
    expect(allows('admin', 'admin')).toBe(true);
  });
});

describe('refusal', () => {
  it('names the user, their role and the one needed', () => {
    expect(refusal({ user: 'viewer', role: 'read', auth: true }, 'write')).toBe(
      'viewer has the read role; this needs write',
    );
    expect(refusal({ user: 'ops', role: 'admin', auth: true }, 'admin')).toBeNull();
  });

  it('refuses nothing with authentication off (the server says admin)', () => {
    expect(refusal({ user: 'default', role: 'admin', auth: false }, 'admin')).toBeNull();
  });
});
