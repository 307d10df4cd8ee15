import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { ApiError } from '../api/rest';
import { startPolling, type PollResult } from './poll';

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('startPolling', () => {
  it('calls at once, then every interval after each answer, until stopped', async () => {
    let n = 0;
    const seen: PollResult<number>[] = [];
    const stop = startPolling(() => Promise.resolve(++n), 1000, (r) => seen.push(r));
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual([{ ok: true, value: 1 }]);
    await vi.advanceTimersByTimeAsync(999);
    expect(seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(3000);
    expect(seen.map((r) => (r.ok ? r.value : -1))).toEqual([1, 2, 3, 4, 5]);
    stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(n).toBe(5);
  });

  it('never asks again while a call is still out', async () => {
    let calls = 0;
    let answer: (v: string) => void = () => undefined;
    startPolling(
      () => {
        calls += 1;
        return new Promise<string>((resolve) => (answer = resolve));
      },
      1000,
      () => undefined,
    );
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(1);
    answer('late');
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(2);
  });

  it('reports failures as ApiErrors and keeps polling', async () => {
    const seen: PollResult<string>[] = [];
    let n = 0;
    startPolling(
      () => {
        n += 1;
        if (n === 1) return Promise.reject(new ApiError(503, 'unavailable', 'busy'));
        if (n === 2) return Promise.reject(new TypeError('network down'));
        return Promise.resolve('back');
      },
      1000,
      (r) => seen.push(r),
    );
    await vi.advanceTimersByTimeAsync(2000);
    expect(seen[0]).toMatchObject({ ok: false, error: { status: 503, code: 'unavailable' } });
    expect(seen[1]).toMatchObject({ ok: false, error: { status: 0, code: 'unreachable' } });
    expect(seen[2]).toEqual({ ok: true, value: 'back' });
  });

  it('drops an answer that arrives after the stop', async () => {
    let answer: (v: string) => void = () => undefined;
    const seen: PollResult<string>[] = [];
    const stop = startPolling(() => new Promise<string>((resolve) => (answer = resolve)), 1000, (r) => seen.push(r));
    stop();
    answer('too late');
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen).toEqual([]);
  });
});
