import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { armWatchdog, installChildCleanup, killAllChildrenNow } from '../bench/child-processes.js';
import { repoRoot } from '../bench/paths.js';
import type { CaseResult, ChaosCase } from './chaos-case.js';
import { dripCase, malformedStatusCase, midBodyCloseCase } from './cases/bad-workers.js';
import { slowlorisCase } from './cases/connections.js';
import { memoryCase } from './cases/memory.js';
import { pathTricksCase } from './cases/path-tricks.js';
import { redisFreezeCase, redisStopCase } from './cases/redis.js';
import { smugglingCase } from './cases/smuggling.js';
import { configChurnCase, storeCase } from './cases/store.js';
import { freezeWorkerCase, killWorkerCase } from './cases/workers.js';

/**
 * `npm run chaos`: every case in turn against real processes on 127.0.0.1, a table at the end,
 * test/bench/results/chaos.json, and exit 1 when any case misses its goal. Bounded twice: each
 * case has its own limit, and the whole run a watchdog that kills everything.
 */

const TOTAL_LIMIT_MS = Number(process.env.CHAOS_LIMIT_S ?? 8 * 60) * 1000;

const allCases: ChaosCase[] = [
  killWorkerCase,
  freezeWorkerCase,
  malformedStatusCase,
  midBodyCloseCase,
  dripCase,
  configChurnCase,
  redisStopCase,
  redisFreezeCase,
  storeCase,
  slowlorisCase,
  smugglingCase,
  pathTricksCase,
  memoryCase,
];

function chosen(): ChaosCase[] {
  const filter = process.argv.slice(2).join(' ').trim().toLowerCase();
  return filter === '' ? allCases : allCases.filter((c) => c.name.toLowerCase().includes(filter));
}

async function runCase(chaosCase: ChaosCase, runDeadline: number): Promise<CaseResult> {
  const started = Date.now();
  // The case gets its own limit, or what is left before the watchdog (less a margin for the table).
  const budgetMs = Math.max(5_000, Math.min(chaosCase.limitMs, runDeadline - started - 20_000));
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`case exceeded its limit of ${Math.round(budgetMs / 1000)} s`)), budgetMs);
  });
  try {
    return await Promise.race([chaosCase.run(budgetMs), overrun]);
  } catch (error) {
    // A case that could not even be staged is a failing row, not a crashed suite.
    killAllChildrenNow();
    return { name: chaosCase.name, sent: 0, failed: 0, recoveryMs: null, pass: false, goal: '', detail: `error after ${Date.now() - started} ms: ${(error as Error).message.split('\n').slice(0, 4).join(' | ')}` };
  } finally {
    clearTimeout(timer);
  }
}

function table(results: CaseResult[]): string {
  const rows = results.map((r) => [r.name, String(r.sent), String(r.failed), r.recoveryMs === null ? '—' : `${(r.recoveryMs / 1000).toFixed(1)} s`, r.pass ? 'pass' : 'FAIL']);
  const header = ['case', 'requests sent', 'failed', 'recovery time', 'verdict'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  installChildCleanup();
  armWatchdog(TOTAL_LIMIT_MS);
  const cases = chosen();
  if (cases.length === 0) throw new Error(`no case matches "${process.argv.slice(2).join(' ')}"`);
  const results: CaseResult[] = [];
  const started = Date.now();
  for (const chaosCase of cases) {
    process.stdout.write(`chaos: ${chaosCase.name} …\n`);
    const result = await runCase(chaosCase, started + TOTAL_LIMIT_MS);
    results.push(result);
    process.stdout.write(`  ${result.pass ? 'pass' : 'FAIL'} — ${result.detail}${result.goal ? ` (goal: ${result.goal})` : ''}\n`);
  }
  process.stdout.write(`\n${table(results)}\n\n${results.filter((r) => !r.pass).length} of ${results.length} cases missed their goal; ${Math.round((Date.now() - started) / 1000)} s\n`);
  writeFileSync(join(repoRoot, 'test/bench/results/chaos.json'), JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2));
  process.exitCode = results.every((r) => r.pass) ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(`chaos: ${(error as Error).stack ?? error}\n`);
  killAllChildrenNow();
  process.exit(1);
});
