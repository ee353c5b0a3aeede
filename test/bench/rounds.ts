import type { Contender, RunningContender } from './contenders.js';
import type { Target } from './upstreams.js';

/**
 * Runs every contender side by side: all are started over the same upstreams, then measured in
 * turn, round after round (A, B, C, A, B, C, …). An idle proxy costs nothing, and interleaving
 * spreads whatever else the shared machine is doing over all contenders instead of letting it
 * land on whichever one happened to run at that moment.
 */

export interface RoundHooks {
  /** One measured turn of one contender. `round` counts from 0. */
  measure(contender: Contender, running: RunningContender, round: number): Promise<void>;
  /** After the last round, before the contender stops (its process is still there to read). */
  finish?(contender: Contender, running: RunningContender): void;
  /** A contender that failed to start or to be measured; it takes no further turns. */
  failed(contender: Contender, phase: 'start' | 'measure', error: unknown): void;
}

export async function runRounds(
  contenders: Contender[],
  workDir: string,
  targets: Target[],
  rounds: number,
  hooks: RoundHooks,
): Promise<void> {
  const running = new Map<Contender, RunningContender>();
  try {
    for (const contender of contenders) {
      try {
        running.set(contender, await contender.start(workDir, targets));
      } catch (error) {
        hooks.failed(contender, 'start', error);
      }
    }
    for (let round = 0; round < rounds; round++) {
      for (const [contender, instance] of [...running]) {
        try {
          await hooks.measure(contender, instance, round);
        } catch (error) {
          hooks.failed(contender, 'measure', error);
          running.delete(contender);
          await instance.stop();
        }
      }
    }
    for (const [contender, instance] of running) hooks.finish?.(contender, instance);
  } finally {
    await Promise.all([...running.values()].map((instance) => instance.stop()));
  }
}
