import { parseArgs } from 'node:util';
import type { ConfigPlan, FieldChange } from '../config/config-plan.js';
import { AdminApiError, AdminClient, DEFAULT_ADMIN_URL, type Terminal } from './admin-client.js';
import { EnvSubstitutionError, substituteEnv } from './env-substitution.js';
import { readConfigFile } from './read-config-file.js';

/** Exit codes a CI pipeline can branch on (as `diff --exit-code`, decK and terraform plan -detailed-exitcode). */
export const EXIT = { unchanged: 0, error: 1, changes: 2 } as const;

export const DECLARATIVE_USAGE = `diff FILE [--admin URL]
                        what apply would change (exit 0 none, 2 changes, 1 error)
  apply FILE [--dry-run] [--admin URL]
                        make the configuration FILE says, through the admin API
                        (exit 0 nothing to do, 2 changed, 1 error)`;

export interface DeclarativeIo extends Terminal {
  stdout: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

const MAX_VALUE = 120;

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

function describeField(field: FieldChange): string {
  if (field.secret) return `${field.path}: (write-only value changed)`;
  if (field.before === undefined) return `${field.path}: + ${show(field.after)}`;
  if (field.after === undefined) return `${field.path}: - ${show(field.before)}`;
  return `${field.path}: ${show(field.before)} → ${show(field.after)}`;
}

const MARK = { added: '+', changed: '~', removed: '-' } as const;

/** The plan as a reviewer reads it: one line per item, one indented line per changed field. */
export function formatPlan(plan: ConfigPlan): string {
  const lines: string[] = [];
  for (const change of plan.changes) {
    lines.push(`${MARK[change.action]} ${change.kind}/${change.name}${change.action === 'changed' ? '' : ` (${change.action})`}`);
    for (const field of change.fields) lines.push(`    ${describeField(field)}`);
  }
  const count = (action: string) => plan.changes.filter((c) => c.action === action).length;
  lines.push(
    plan.changes.length === 0
      ? `no changes (revision ${plan.revision}, ${plan.unchanged} items)`
      : `${count('added')} to add, ${count('changed')} to change, ${count('removed')} to remove, ${plan.unchanged} unchanged (against revision ${plan.revision})`,
  );
  return lines.join('\n') + '\n';
}

function report(err: unknown, file: string | undefined, io: DeclarativeIo): void {
  if (err instanceof AdminApiError && err.problem?.errors?.length) {
    const n = err.problem.errors.length;
    io.stderr.write(`switchboard: ${file ?? 'the configuration'} is invalid (${n} problem${n === 1 ? '' : 's'}), nothing was changed:\n`);
    for (const e of err.problem.errors) io.stderr.write(`  ${e.path}: ${e.message}\n`);
  } else if (err instanceof AdminApiError && err.status === 401) {
    io.stderr.write(`switchboard: the admin API refused the token (${err.problem?.detail ?? 'unauthorized'}); set SWITCHBOARD_TOKEN to a fresh one or unset it to sign in\n`);
  } else if (err instanceof EnvSubstitutionError) {
    io.stderr.write(`switchboard: ${err.source}:\n${err.problems.map((p) => `  ${p}\n`).join('')}nothing was changed\n`);
  } else {
    io.stderr.write(`switchboard: ${(err as Error).message}\n`);
  }
}

/**
 * `switchboard diff FILE` and `switchboard apply FILE [--dry-run]`: the declarative workflow
 * through the admin API (so the CLI needs an admin token, not the store's credentials). The
 * plan comes from `POST /config/diff`, which checks the file as the write would; apply then
 * sends it with `If-Match: <planned revision>`, so a change made by someone else in between is
 * refused rather than overwritten.
 */
export async function declarativeCommand(command: 'diff' | 'apply', args: string[], io: DeclarativeIo): Promise<number> {
  let file: string | undefined;
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { admin: { type: 'string', default: DEFAULT_ADMIN_URL }, ...(command === 'apply' ? { 'dry-run': { type: 'boolean', default: false } } : {}) },
    });
    if (positionals.length !== 1) throw new Error(`${command} needs exactly one FILE (got ${positionals.length})\n\nusage: switchboard ${DECLARATIVE_USAGE.split('\n').find((l) => l.trimStart().startsWith(command))!.trim()}`);
    file = positionals[0]!;
    const source = file;
    let body: unknown;
    try {
      body = await readConfigFile(source, (text) => substituteEnv(text, io.env, source));
    } catch (err) {
      if (err instanceof EnvSubstitutionError) throw err;
      throw new Error(`${source}: ${(err as Error).message}`);
    }
    const client = await AdminClient.connect(String(values.admin), io.env, io);
    const { body: plan } = await client.call<ConfigPlan>('POST', '/config/diff', body);
    io.stdout.write(formatPlan(plan));
    if (plan.changes.length === 0) return EXIT.unchanged;
    if (command === 'diff') return EXIT.changes;
    if (values['dry-run']) {
      io.stdout.write('dry run: nothing was changed\n');
      return EXIT.changes;
    }
    try {
      const { body: applied } = await client.call<{ revision: number }>('PUT', '/config', body, { 'if-match': `"${plan.revision}"` });
      io.stdout.write(`applied: revision ${applied.revision}\n`);
    } catch (err) {
      if (err instanceof AdminApiError && err.status === 412) {
        throw new Error(`the configuration changed after the plan was made (${err.problem?.detail ?? 'revision moved'}); nothing was changed: run diff/apply again`);
      }
      throw err;
    }
    return EXIT.changes;
  } catch (err) {
    report(err, file, io);
    return EXIT.error;
  }
}
