import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** Plain-text tables and result files shared by every benchmark (proxy now, balance later). */

export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

export function formatTable(columns: Column[], rows: string[][]): string {
  const widths = columns.map((column, index) =>
    Math.max(column.header.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: string[]): string => cells
    .map((cell, index) => (columns[index]?.align === 'left' ? cell.padEnd(widths[index]!) : cell.padStart(widths[index]!)))
    .join('  ')
    .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(columns.map((column) => column.header)), rule, ...rows.map(line)].join('\n');
}

/** Shown for a figure that does not exist (no proxy process for `direct`, a skipped contender). */
export const NOT_APPLICABLE = '—';

export function formatNumber(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return NOT_APPLICABLE;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `×1.23` — how many times the reference; undefined when either side is missing. */
export function formatRatio(value: number | undefined, reference: number | undefined): string {
  if (value === undefined || reference === undefined || reference === 0) return NOT_APPLICABLE;
  return `×${(value / reference).toFixed(2)}`;
}

/** `+0.71` / `-0.05` — a signed difference. */
export function formatDelta(value: number | undefined, reference: number | undefined, digits = 2): string {
  if (value === undefined || reference === undefined) return NOT_APPLICABLE;
  const delta = value - reference;
  return `${delta >= 0 ? '+' : '-'}${Math.abs(delta).toFixed(digits)}`;
}

export function formatMiB(bytes: number | undefined): string {
  return bytes === undefined ? NOT_APPLICABLE : (bytes / 1024 / 1024).toFixed(1);
}

export const resultsDir = join(repoRoot, 'test/bench/results');

/**
 * Writes `<benchmark>-<timestamp>.json` and `<benchmark>-latest.json` (both git-ignored), and
 * returns the paths written.
 */
export function writeResults(benchmark: string, results: unknown): string[] {
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const text = `${JSON.stringify(results, null, 2)}\n`;
  const files = [join(resultsDir, `${benchmark}-${stamp}.json`), join(resultsDir, `${benchmark}-latest.json`)];
  for (const file of files) writeFileSync(file, text);
  return files;
}
