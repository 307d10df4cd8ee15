// The /ws/metrics connection: opens the socket, decodes frames, and reconnects
// by itself with backoff when the socket closes or goes silent. Transport only:
// what the frames mean is the caller's business.
import { reconnectDelay } from './backoff';
import { parseFrame } from './frames';
import type { Frame } from './types';

export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'stopped';

export interface ConnectionState {
  status: ConnectionStatus;
  /** Failed attempts since the last frame. */
  attempt: number;
  /** When status is 'reconnecting': when the next try starts (ms since the epoch). */
  retryAt: number | null;
}

/** The part of a browser WebSocket this code uses, so tests can fake it. */
export interface SocketLike {
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: (() => void) | null;
  onerror: (() => void) | null;
  close(): void;
}

export interface Environment {
  openSocket(url: string): SocketLike;
  setTimer(run: () => void, ms: number): number;
  clearTimer(id: number): void;
  random(): number;
  now(): number;
}

export const browserEnvironment: Environment = {
  openSocket: (url) => new WebSocket(url) as unknown as SocketLike,
  setTimer: (run, ms) => window.setTimeout(run, ms),
  clearTimer: (id) => window.clearTimeout(id),
  random: () => Math.random(),
  now: () => Date.now(),
};

/** A socket that sends nothing for this long (or 5 intervals) is presumed dead. */
export const SILENCE_MS = 5_000;

export class MetricsConnection {
  private socket: SocketLike | null = null;
  private retryTimer: number | null = null;
  private silenceTimer: number | null = null;
  private intervalMs = 1_000;
  private state: ConnectionState = { status: 'stopped', attempt: 0, retryAt: null };

  constructor(
    private readonly url: string,
    private readonly onFrame: (frame: Frame) => void,
    private readonly onState: (state: ConnectionState) => void,
    private readonly env: Environment = browserEnvironment,
  ) {}

  start(): void {
    if (this.state.status !== 'stopped') return;
    this.connect();
  }

  stop(): void {
    this.clearTimers();
    this.dropSocket();
    this.setState({ status: 'stopped', attempt: 0, retryAt: null });
  }

  private connect(): void {
    this.setState({ ...this.state, status: 'connecting', retryAt: null });
    const socket = this.env.openSocket(this.url);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.setState({ ...this.state, status: 'open' });
      this.watchSilence();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket || typeof event.data !== 'string') return;
      const frame = parseFrame(event.data);
      if (frame === null) return;
      this.intervalMs = frame.interval_ms;
      if (this.state.attempt !== 0 || this.state.status !== 'open') {
        this.setState({ status: 'open', attempt: 0, retryAt: null });
      }
      this.watchSilence();
      this.onFrame(frame);
    };
    socket.onclose = () => {
      if (this.socket === socket) this.scheduleRetry();
    };
    socket.onerror = () => {
      if (this.socket === socket) this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    this.clearTimers();
    this.dropSocket();
    const delay = reconnectDelay(this.state.attempt, () => this.env.random());
    this.setState({
      status: 'reconnecting',
      attempt: this.state.attempt + 1,
      retryAt: this.env.now() + delay,
    });
    this.retryTimer = this.env.setTimer(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private watchSilence(): void {
    if (this.silenceTimer !== null) this.env.clearTimer(this.silenceTimer);
    const limit = Math.max(SILENCE_MS, this.intervalMs * 5);
    this.silenceTimer = this.env.setTimer(() => {
      this.silenceTimer = null;
      this.scheduleRetry();
    }, limit);
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close();
    }
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.env.clearTimer(this.retryTimer);
    if (this.silenceTimer !== null) this.env.clearTimer(this.silenceTimer);
    this.retryTimer = this.silenceTimer = null;
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.onState(state);
  }
}
