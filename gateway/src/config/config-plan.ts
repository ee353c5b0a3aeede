import { CONFIG_KINDS, type ConfigKind } from '../../../spec/config.js';
import type { ConfigState } from '../store/port.js';
import { withoutSecrets } from './item-views.js';
import { nextStateFor } from './replace-config.js';

/** One field that differs, by JSON path (`targets[1].weight`). Secret values never appear. */
export interface FieldChange {
  path: string;
  before?: unknown;
  after?: unknown;
  /** The path is a write-only secret (or holds one): it changed, its values are not shown. */
  secret?: true;
}

export interface ItemChange {
  kind: ConfigKind;
  name: string;
  action: 'added' | 'changed' | 'removed';
  /** For `changed`: the fields that differ. */
  fields: FieldChange[];
}

/** What `PUT /config` with this body would do to the configuration at `revision`. */
export interface ConfigPlan {
  revision: number;
  changes: ItemChange[];
  unchanged: number;
}

/** Field names whose values are write-only (item-views.ts hides the same). */
const SECRET_SEGMENTS = new Set(['secret', 'password', 'passwordHash', 'hash', 'key', 'token']);

function content(item: object): Record<string, unknown> {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...rest } = item as Record<string, unknown>;
  return rest;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function fieldChange(path: string, secret: boolean, before: unknown, after: unknown): FieldChange {
  if (secret) return { path, secret: true };
  const change: FieldChange = { path };
  if (before !== undefined) change.before = withoutSecrets(before);
  if (after !== undefined) change.after = withoutSecrets(after);
  return change;
}

/**
 * The leaves that differ between two values: objects by key, arrays by index (a target list
 * that grew by one reads `targets[2]` added, not the whole list changed).
 */
function fieldChanges(before: unknown, after: unknown, path: string, secret: boolean, out: FieldChange[]): void {
  if (JSON.stringify(before) === JSON.stringify(after)) return;
  if (isObject(before) && isObject(after)) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      fieldChanges(before[key], after[key], path ? `${path}.${key}` : key, secret || SECRET_SEGMENTS.has(key), out);
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    for (let i = 0; i < Math.max(before.length, after.length); i++) fieldChanges(before[i], after[i], `${path}[${i}]`, secret, out);
    return;
  }
  out.push(fieldChange(path, secret, before, after));
}

/** Item by item, what moves from `current` to `next` (matched by name, as `PUT /config` does). */
export function diffStates(current: ConfigState, next: ConfigState): { changes: ItemChange[]; unchanged: number } {
  const changes: ItemChange[] = [];
  let unchanged = 0;
  for (const kind of CONFIG_KINDS) {
    const before = new Map((current[kind] ?? []).map((item) => [item.name, item] as const));
    const after = new Map((next[kind] ?? []).map((item) => [item.name, item] as const));
    for (const [name, item] of after) {
      const old = before.get(name);
      if (!old) {
        changes.push({ kind, name, action: 'added', fields: [] });
        continue;
      }
      const fields: FieldChange[] = [];
      fieldChanges(content(old), content(item), '', false, fields);
      if (fields.length === 0) unchanged++;
      else changes.push({ kind, name, action: 'changed', fields });
    }
    for (const name of before.keys()) if (!after.has(name)) changes.push({ kind, name, action: 'removed', fields: [] });
  }
  return { changes, unchanged };
}

/**
 * The plan of a whole-configuration replacement, computed exactly as the write would be
 * (nextStateFor: same validation, same secrets kept from the store), so that "no changes" here
 * means the write would change nothing. Throws ValidationError naming every bad field.
 */
export function planConfig(current: ConfigState, body: unknown): { plan: ConfigPlan; next: ConfigState } {
  const { next } = nextStateFor(current, body);
  return { plan: { revision: current.revision, ...diffStates(current, next) }, next };
}
