import { CONFIG_KINDS, type GatewayConfig } from '../../../spec/config.js';
import { validateConfig } from '../../../spec/validate.js';
import { RevisionConflictError, type ConfigState, type ConfigStore, type Stored } from '../store/port.js';
import { mustCompile, type CompileCheck } from './compile-check.js';
import { mustServeCertificates } from './certificate-check.js';
import { newId } from './ids.js';

/** Fill in secrets an export left out (JWT secrets, certificate keys), from what the store already holds. */
function restoreOmittedSecrets(input: unknown, current: ConfigState): unknown {
  const config = input as Partial<GatewayConfig> | null;
  if (!config || typeof config !== 'object') return input;
  if (Array.isArray(config.certificates)) {
    for (const cert of config.certificates) {
      if (!cert || typeof cert !== 'object' || cert.key) continue;
      const stored = current.certificates.find((c) => c.name === cert.name);
      if (stored?.key) cert.key = stored.key;
    }
  }
  if (!Array.isArray(config.consumers)) return input;
  for (const consumer of config.consumers) {
    if (!consumer || typeof consumer !== 'object' || !Array.isArray(consumer.jwt)) continue;
    const stored = current.consumers.find((c) => c.name === consumer.name);
    for (const cred of consumer.jwt) {
      if (!cred || cred.secret || cred.publicKey || cred.jwksUrl) continue;
      const old = stored?.jwt?.find((o) => o.issuer === cred.issuer);
      if (old?.secret) cred.secret = old.secret;
    }
  }
  return input;
}

function stripStoredFields<T extends object>(item: T): T {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...rest } = item as Record<string, unknown>;
  return rest as T;
}

/**
 * Build the next state from a whole new configuration: items keep their id when their name
 * already exists, and their version moves only when their content changed. Pure; validates.
 */
export function nextStateFor(current: ConfigState, input: unknown): { next: ConfigState; config: GatewayConfig } {
  const config = validateConfig(structuredClone(restoreOmittedSecrets(structuredClone(input), current)));
  const now = new Date().toISOString();
  const next: ConfigState = { ...current };
  for (const kind of CONFIG_KINDS) {
    const byName = new Map(current[kind].map((item) => [item.name, item] as const));
    next[kind] = (config[kind] as Array<{ name: string }>).map((raw) => {
      const item = stripStoredFields(raw);
      const old = byName.get(item.name) as Stored<{ name: string }> | undefined;
      if (old && JSON.stringify(stripStoredFields(old)) === JSON.stringify(item)) return old;
      return {
        ...item,
        id: old?.id ?? newId(),
        version: (old?.version ?? 0) + 1,
        createdAt: old?.createdAt ?? now,
        updatedAt: now,
      };
    }) as never;
  }
  // Keys of consumers that no longer exist go with them.
  const consumerIds = new Set(next.consumers.map((c) => c.id));
  next.keys = current.keys.filter((k) => consumerIds.has(k.consumer));
  return { next, config };
}

/**
 * Replace the whole configuration atomically: all of it or nothing. Returns the new revision.
 * `compiles` (a dry compile, see compile-check.ts) refuses a configuration no node could run.
 */
export async function replaceConfig(store: ConfigStore, input: unknown, actor: string, action = 'config.replace', compiles?: CompileCheck): Promise<ConfigState> {
  for (let attempt = 0; ; attempt++) {
    const current = await store.read();
    const { next } = nextStateFor(current, input);
    mustServeCertificates(next, current);
    if (compiles) await mustCompile(compiles, { ...next, revision: current.revision + 1 });
    try {
      return await store.commit(next, {
        expectedRevision: current.revision,
        actor,
        action,
        keepRevision: true,
        audit: [{ at: new Date().toISOString(), actor, action, kind: 'config', id: null, before: null, after: { upstreams: next.upstreams.length, routes: next.routes.length, consumers: next.consumers.length } }],
      });
    } catch (err) {
      if (err instanceof RevisionConflictError && attempt < 5) continue;
      throw err;
    }
  }
}
