// Asking the server the same question every so often while a page is open.
// One call at a time: the next starts `everyMs` after the last one answered, so
// a slow server is never asked twice at once and answers arrive in order.
// React-free, so the timing is tested with fake timers; pages wrap it in a hook.
import { ApiError } from '../api/rest';

export type PollResult<T> = { ok: true; value: T } | { ok: false; error: ApiError };

/** Calls `call` now and then every `everyMs` after each answer; returns the function that stops it. */
export function startPolling<T>(
  call: () => Promise<T>,
  everyMs: number,
  onResult: (result: PollResult<T>) => void,
): () => void {
  let live = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const poll = async () => {
    let result: PollResult<T>;
    try {
      result = { ok: true, value: await call() };
    } catch (e) {
      result = { ok: false, error: e instanceof ApiError ? e : new ApiError(0, 'unreachable', String(e)) };
    }
    // A stop during the call drops its answer: the page that asked is gone.
    if (!live) return;
    onResult(result);
    timer = setTimeout(() => void poll(), everyMs);
  };
  void poll();
  return () => {
    live = false;
    if (timer !== undefined) clearTimeout(timer);
  };
}
