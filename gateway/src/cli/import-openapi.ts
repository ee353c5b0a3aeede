import { parseArgs } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { AUTH_MODES, type AuthMode, type Route } from '../../../spec/route.js';
import { exportConfig } from '../config/export-config.js';
import { nextStateFor } from '../config/replace-config.js';
import { importScope, OpenApiImportError, routesFromOpenApi, type ImportOptions } from '../docs/openapi-import.js';
import { RevisionConflictError, type ConfigState, type ConfigStore } from '../store/port.js';

export const IMPORT_OPENAPI_USAGE = `import-openapi FILE --upstream NAME [--prefix P] [--auth MODE] [--dry-run]
                        create or replace routes from an OpenAPI 3.0/3.1 file (JSON or YAML):
                        one route per operation, named <upstream>[.<prefix>].<operationId>;
                        --prefix serves them under P (stripped before the upstream);
                        --auth none|api-key|jwt|api-key-or-jwt (default api-key)`;

/** A dry compile (what `switchboard import` runs): throws when no node could run the state. */
export type CompileCheck = (state: ConfigState) => Promise<void>;

export interface ImportedRoutes {
  state: ConfigState;
  created: string[];
  replaced: string[];
  unchanged: string[];
}

/** How many times the merge is recomputed when another writer moved the revision under it. */
const CONFLICT_RETRIES = 5;

/**
 * Put `routes` into the store in one revision, all or nothing: each replaces the route of the
 * same name or is added; the rest of the configuration is kept as it is. The merged
 * configuration goes through the same validation as `switchboard import` (nextStateFor: schema,
 * names, references, paths served twice), and the commit is a compare-and-swap on the revision,
 * recomputed if someone else wrote in between — so nothing a concurrent change did is lost.
 */
export async function commitImportedRoutes(store: ConfigStore, routes: Route[], upstream: string, actor: string, compiles?: CompileCheck): Promise<ImportedRoutes> {
  for (let attempt = 0; ; attempt++) {
    const current = await store.read();
    if (!current.upstreams.some((u) => u.name === upstream)) {
      const known = current.upstreams.map((u) => u.name);
      throw new OpenApiImportError([
        { where: '--upstream', message: `upstream "${upstream}" does not exist (${known.length ? `the store has ${known.join(', ')}` : 'the store has none'}); create it first` },
      ]);
    }
    const config = exportConfig(current);
    const incoming = new Map(routes.map((r) => [r.name, r] as const));
    config.routes = [...config.routes.filter((r) => !incoming.has(r.name)), ...routes];
    const { next } = nextStateFor(current, config);
    const before = new Map(current.routes.map((r) => [r.name, r] as const));
    const result: Omit<ImportedRoutes, 'state'> = { created: [], replaced: [], unchanged: [] };
    const audit = [];
    const at = new Date().toISOString();
    for (const route of next.routes) {
      if (!incoming.has(route.name)) continue;
      const old = before.get(route.name);
      if (!old) result.created.push(route.name);
      else if (old === route) result.unchanged.push(route.name);
      else result.replaced.push(route.name);
      if (old !== route) audit.push({ at, actor, action: old ? 'update' : 'create', kind: 'route', id: route.id, before: old ?? null, after: route });
    }
    if (audit.length === 0) return { state: current, ...result };
    if (compiles) {
      try {
        await compiles({ ...next, revision: current.revision + 1 });
      } catch (err) {
        throw new OpenApiImportError([{ where: 'configuration', message: `the routes would not compile on a gateway node: ${(err as Error).message}` }]);
      }
    }
    try {
      const state = await store.commit(next, { expectedRevision: current.revision, actor, action: 'config.import-openapi', keepRevision: true, audit });
      return { state, ...result };
    } catch (err) {
      if (err instanceof RevisionConflictError && attempt < CONFLICT_RETRIES) continue;
      throw err;
    }
  }
}

/** Parse, dereference ($refs, local or in other files) and map; throws what cannot be mapped. */
export async function readOpenApiRoutes(file: string, options: ImportOptions): Promise<ReturnType<typeof routesFromOpenApi>> {
  let doc: Record<string, unknown>;
  try {
    // circular: false — a recursive schema cannot become a route schema; say so instead.
    // http: false — a partner's file does not make this machine fetch URLs; $refs to other
    // local files are followed.
    doc = (await SwaggerParser.dereference(file, { dereference: { circular: false }, resolve: { http: false } })) as unknown as Record<string, unknown>;
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    const why = /circular \$ref/i.test(message) ? ' (a recursive schema cannot be a route schema: a route validates with a finite one)' : '';
    throw new OpenApiImportError([{ where: file, message: message + why }]);
  }
  return routesFromOpenApi(doc, options);
}

export class ImportUsageError extends Error {}

/** `switchboard import-openapi …`; returns the exit code. */
export async function importOpenApiCommand(args: string[], openStore: () => Promise<ConfigStore>, withCompiler?: <T>(store: ConfigStore, fn: (compiles: CompileCheck) => Promise<T>) => Promise<T>): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { upstream: { type: 'string' }, prefix: { type: 'string' }, auth: { type: 'string', default: 'api-key' }, 'dry-run': { type: 'boolean', default: false } },
    });
  } catch (err) {
    throw new ImportUsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new ImportUsageError('import-openapi needs exactly one FILE');
  if (!values.upstream) throw new ImportUsageError('import-openapi needs --upstream NAME (the pool the routes send to)');
  if (!(AUTH_MODES as readonly string[]).includes(values.auth!)) throw new ImportUsageError(`--auth must be one of ${AUTH_MODES.join(', ')} (got "${values.auth}")`);

  const { routes, notes } = await readOpenApiRoutes(file, { upstream: values.upstream, prefix: values.prefix, auth: values.auth as AuthMode });
  for (const note of notes) process.stderr.write(`note: ${note}\n`);
  if (values['dry-run']) {
    process.stdout.write(JSON.stringify({ routes }, null, 2) + '\n');
    return 0;
  }
  const store = await openStore();
  try {
    const actor = `cli:${process.env.USER ?? 'unknown'}`;
    const commit = (compiles?: CompileCheck) => commitImportedRoutes(store, routes, values.upstream!, actor, compiles);
    const done = withCompiler ? await withCompiler(store, commit) : await commit();
    const list = (names: string[]) => (names.length ? `: ${names.join(', ')}` : '');
    process.stdout.write(
      `imported ${file} → upstream ${values.upstream}: revision ${done.state.revision}; ` +
        `${done.created.length} created${list(done.created)}; ${done.replaced.length} replaced${list(done.replaced)}; ${done.unchanged.length} unchanged\n`,
    );
    // An earlier import's routes this file no longer has are kept (they may still be in use): say so.
    const scope = `${importScope(values.upstream, values.prefix)}.`;
    const names = new Set(routes.map((r) => r.name));
    const stale = done.state.routes.filter((r) => r.upstream === values.upstream && r.name.startsWith(scope) && !names.has(r.name)).map((r) => r.name);
    if (stale.length) process.stderr.write(`note: not in ${file}, kept: ${stale.join(', ')} (delete them if the API dropped them)\n`);
  } finally {
    await store.close();
  }
  return 0;
}
