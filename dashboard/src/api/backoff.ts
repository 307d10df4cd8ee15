// Reconnect delays: exponential from BASE_MS up to MAX_MS, with jitter so many
// dashboards restarting with the server do not reconnect in lockstep.

export const BASE_MS = 500;
export const MAX_MS = 15_000;

/**
 * Delay before reconnect attempt `attempt` (0 for the first retry). `random`
 * returns [0, 1); the delay is between half and all of the exponential step.
 */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const step = Math.min(MAX_MS, BASE_MS * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + (step / 2) * random());
}
