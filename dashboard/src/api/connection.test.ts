import { describe, expect, it } from 'vitest';

import { BASE_MS } from './backoff';
import { MetricsConnection, SILENCE_MS, type ConnectionState, type Environment, type SocketLike } from './connection';
import type { Frame } from './types';

class FakeSocket implements SocketLike {
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  close() {
    this.closed = true;
  }
}

/** A clock and timers the test moves by hand. */
class FakeEnvironment implements Environment {
  sockets: FakeSocket[] = [];
  time = 1_000_000;
  private timers = new Map<number, { at: number; run: () => void }>();
  private nextId = 1;
  openSocket() {
    const s = new FakeSocket();
    this.sockets.push(s);
    return s;
  }
  setTimer(run: () => void, ms: number) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, run });
    return id;
  }
  clearTimer(id: number) {
    this.timers.delete(id);
  }
  random() {
    return 0.999999;
  }
  now() {
    return this.time;
  }
  advance(ms: number) {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].run();
    }
    this.time = until;
  }
  get last(): FakeSocket {
    const s = this.sockets.at(-1);
    if (s === undefined) throw new Error('no socket opened');
    return s;
  }
}

const history = JSON.stringify({ type: 'history', interval_ms: 1000, points: [] });

function setup() {
  const env = new FakeEnvironment();
  const frames: Frame[] = [];
  const states: ConnectionState[] = [];
  const c = new MetricsConnection('ws://x/ws/metrics', (f) => frames.push(f), (s) => states.push(s), env);
  return { env, frames, states, c, state: () => states.at(-1) };
}

describe('MetricsConnection', () => {
  it('connects, delivers decoded frames and ignores junk', () => {
    const { env, frames, c, state } = setup();
    c.start();
    expect(state()?.status).toBe('connecting');
    env.last.onopen?.();
    expect(state()?.status).toBe('open');
    env.last.onmessage?.({ data: history });
    env.last.onmessage?.({ data: 'not json' });
    env.last.onmessage?.({ data: JSON.stringify({ type: 'other', interval_ms: 1 }) });
    expect(frames.map((f) => f.type)).toEqual(['history']);
  });

  it('reconnects with growing delays until a frame arrives, then resets', () => {
    const { env, c, state } = setup();
    c.start();
    env.last.onclose?.();
    expect(state()).toMatchObject({ status: 'reconnecting', attempt: 1, retryAt: env.time + BASE_MS });
    env.advance(BASE_MS - 1);
    expect(env.sockets).toHaveLength(1);
    env.advance(1);
    expect(env.sockets).toHaveLength(2);
    env.last.onerror?.();
    expect(state()).toMatchObject({ attempt: 2, retryAt: env.time + BASE_MS * 2 });
    env.advance(BASE_MS * 2);
    env.last.onopen?.();
    env.last.onmessage?.({ data: history });
    expect(state()).toEqual({ status: 'open', attempt: 0, retryAt: null });
    env.last.onclose?.();
    expect(state()).toMatchObject({ attempt: 1, retryAt: env.time + BASE_MS });
  });

  it('treats a silent socket as dead and replaces it', () => {
    const { env, c, state } = setup();
    c.start();
    env.last.onopen?.();
    env.last.onmessage?.({ data: history });
    env.advance(SILENCE_MS - 1);
    expect(state()?.status).toBe('open');
    env.advance(1);
    expect(env.sockets[0]?.closed).toBe(true);
    expect(state()?.status).toBe('reconnecting');
  });

  it('stops for good: no retry after stop, and late events from old sockets are ignored', () => {
    const { env, c, state } = setup();
    c.start();
    const first = env.last;
    c.stop();
    expect(first.closed).toBe(true);
    expect(state()?.status).toBe('stopped');
    env.advance(60_000);
    expect(env.sockets).toHaveLength(1);
  });
});
