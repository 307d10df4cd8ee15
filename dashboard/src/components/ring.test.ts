import { describe, expect, it } from 'vitest';

import { arcs } from './RingPicture';

describe('ring arcs', () => {
  it('splits the circle by share, in order, and closes it', () => {
    const a = arcs([
      { id: 'a', ring_share: 0.5 },
      { id: 'b', ring_share: 0.25 },
      { id: 'c', ring_share: 0.25 },
    ]);
    expect(a.map((x) => x.id)).toEqual(['a', 'b', 'c']);
    expect(a[0]?.end).toBeCloseTo(Math.PI);
    expect(a[1]?.start).toBeCloseTo(Math.PI);
    expect(a[2]?.end).toBeCloseTo(2 * Math.PI);
  });
});
