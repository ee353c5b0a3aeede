import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Token windows are fixed and aligned to the epoch (every node agrees on them): a test that
 * counts up to a limit must not straddle a window's end, or its count starts over mid-test.
 * Wait out the last `marginMs` of the current window.
 */
export async function awayFromWindowEdge(windowMs: number, marginMs = 20_000): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await sleep(left + 50);
}
