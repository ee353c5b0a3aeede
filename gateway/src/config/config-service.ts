import { CONFIG_KINDS, type ConfigKind, type GatewayConfig } from '../../../spec/config.js';
import { crossReferenceErrors, validateItem, ValidationError, type FieldError, type SpecKind } from '../../../spec/validate.js';
import { hashPassword } from './password-hash.js';
import { ProblemError } from '../errors.js';
import {
  RevisionConflictError,
  type AuditEntry,
  type ConfigState,
  type ConfigStore,
  type RevisionRecord,
  type StoredUser,
  withAllCollections,
} from '../store/port.js';
import { mustCompile, type CompileCheck } from './compile-check.js';
import { mustServeCertificates } from './certificate-check.js';
import { exportConfig } from './export-config.js';
import { newId } from './ids.js';
import { ifMatchAdmits } from './if-match.js';
import { certificateView, consumerView, userView, withoutSecrets } from './item-views.js';
import { nextStateFor } from './replace-config.js';
import { restoredState } from './restore-revision.js';

export type { ConfigKind };
export type ItemKind = ConfigKind | 'users';

export const SINGULAR: Record<ItemKind, SpecKind & string> = {
  upstreams: 'upstream',
  routes: 'route',
  consumers: 'consumer',
  certificates: 'certificate',
  streams: 'stream',
  users: 'user',
};

/** Who is making a change; recorded in the audit log and the revision history. */
export interface Actor {
  email: string;
}

export interface WriteOptions {
  /** Parsed `If-Match` (see if-match.ts); undefined = unconditional. */
  ifMatch?: string[] | undefined;
}

/** An item as the service handles it: stored fields plus the kind's own. */
export type Item = { id: string; version: number; createdAt: string; updatedAt: string; [field: string]: unknown };

type AuditDraft = Omit<AuditEntry, 'revision' | 'at' | 'actor'>;

/** What one change produces: the next state (undefined = nothing to write), audit entries, the answer. */
interface ChangeResult<R> {
  next: ConfigState | undefined;
  audit: AuditDraft[];
  result: R;
}

/** How many times a change is recomputed when another writer moved the revision under it. */
const CONFLICT_RETRIES = 8;

/**
 * The configuration service: every admin write goes through here, whichever store is behind it.
 * A change is computed from one read state, checked (schema, names, references, If-Match) and
 * committed with a compare-and-swap on the store revision; if another writer got there first,
 * the change is recomputed from the new state, so preconditions are always judged against what
 * is actually being replaced. Per-item versions, 404/409/412 rules and audit entries live here
 * once, so the file and MongoDB adapters cannot disagree about them.
 */
export class ConfigService {
  /**
   * `compiles`: the dry compile a node would run on the saved revision (the node's own, see
   * generation/dry-compile.ts); a change it refuses is answered 400 and never committed.
   */
  constructor(
    readonly store: ConfigStore,
    private readonly compiles?: CompileCheck,
  ) {}

  read(): Promise<ConfigState> {
    return this.store.read();
  }

  /** Compute-and-commit with CAS retry. `build` may throw a ProblemError to refuse the change. */
  async change<R>(
    actor: Actor,
    action: string,
    keepRevision: boolean,
    build: (state: ConfigState) => ChangeResult<R> | Promise<ChangeResult<R>>,
  ): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      const state = await this.store.read();
      const { next, audit, result } = await build(state);
      if (!next) return result;
      // Users and keys are not compiled; everything kept as a revision is.
      if (keepRevision) mustServeCertificates(next, state);
      if (keepRevision && this.compiles) await mustCompile(this.compiles, { ...next, revision: state.revision + 1 });
      const at = new Date().toISOString();
      try {
        await this.store.commit(
          { ...next, revision: state.revision + 1 },
          { expectedRevision: state.revision, keepRevision, actor: actor.email, action, audit: audit.map((a) => ({ at, actor: actor.email, ...a })) },
        );
        return result;
      } catch (err) {
        if (err instanceof RevisionConflictError && attempt < CONFLICT_RETRIES) continue;
        throw err;
      }
    }
  }

  async list(kind: ItemKind): Promise<Item[]> {
    const state = await this.store.read();
    return (state[kind] as unknown as Item[]).map((item) => view(kind, item));
  }

  async get(kind: ItemKind, ref: string): Promise<Item> {
    const state = await this.store.read();
    return view(kind, mustFind(state, kind, ref));
  }

  async create(kind: ItemKind, body: unknown, actor: Actor): Promise<Item> {
    const { input } = await prepare(kind, body, 'create');
    return this.change(actor, 'create', kind !== 'users', (state) => {
      const name = nameOf(kind, input);
      if (findByName(state, kind, name)) throw duplicateName(kind, name);
      const now = new Date().toISOString();
      const item: Item = { ...input, id: newId(), version: 1, createdAt: now, updatedAt: now };
      const next = withItem(state, kind, item);
      if (kind !== 'users') checkReferences(next, kind, item);
      const after = view(kind, item);
      return { next, audit: [{ action: 'create', kind: SINGULAR[kind], id: item.id, before: null, after }], result: after };
    });
  }

  async replace(kind: ItemKind, ref: string, body: unknown, options: WriteOptions, actor: Actor): Promise<Item> {
    const { input, bodyVersion } = await prepare(kind, body, 'replace');
    return this.change(actor, 'update', kind !== 'users', (state) => {
      const old = mustFind(state, kind, ref);
      checkPrecondition(kind, old, options.ifMatch, bodyVersion);
      const content = completeFromStored(kind, input, old);
      const name = nameOf(kind, content);
      const clash = findByName(state, kind, name);
      if (clash && clash.id !== old.id) throw duplicateName(kind, name);
      if (sameContent(old, content)) return { next: undefined, audit: [], result: view(kind, old) };
      const item: Item = { ...content, id: old.id, version: old.version + 1, createdAt: old.createdAt, updatedAt: new Date().toISOString() };
      const next = withItem(state, kind, item);
      if (kind === 'users') keepAnAdmin(next);
      else checkReferences(next, kind, item);
      const after = view(kind, item);
      return { next, audit: [{ action: 'update', kind: SINGULAR[kind], id: item.id, before: view(kind, old), after }], result: after };
    });
  }

  async remove(kind: ItemKind, ref: string, options: WriteOptions, actor: Actor): Promise<void> {
    return this.change(actor, 'delete', kind !== 'users', (state) => {
      const old = mustFind(state, kind, ref);
      checkPrecondition(kind, old, options.ifMatch, undefined);
      const next: ConfigState = { ...state, [kind]: (state[kind] as unknown as Item[]).filter((i) => i.id !== old.id) };
      if (kind === 'users') keepAnAdmin(next);
      else checkReferences(next, kind, undefined, old);
      // A partner's API keys go with the partner (Kong does the same with its credentials).
      if (kind === 'consumers') next.keys = state.keys.filter((k) => k.consumer !== old.id);
      return { next, audit: [{ action: 'delete', kind: SINGULAR[kind], id: old.id, before: view(kind, old), after: null }], result: undefined };
    });
  }

  /**
   * The checks of a save without the save (`POST /routes/validate`). An item whose name already
   * exists is checked as a replacement of that item, so validating an edit does not collide with
   * the item's own name or paths.
   */
  async check(kind: ConfigKind, body: unknown): Promise<Item> {
    const { input } = await prepare(kind, body, 'create');
    const state = await this.store.read();
    const old = findByName(state, kind, nameOf(kind, input));
    const content = old ? completeFromStored(kind, input, old) : input;
    const item: Item = { ...content, id: old?.id ?? 'unsaved', version: old ? old.version + 1 : 1, createdAt: '', updatedAt: '' };
    checkReferences(withItem(state, kind, item), kind, item);
    const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...shown } = view(kind, item);
    return shown as Item;
  }

  async exportConfig(): Promise<{ revision: number; config: GatewayConfig }> {
    const state = await this.store.read();
    return { revision: state.revision, config: exportConfig(state) };
  }

  /** `PUT /config`: the whole configuration, atomically, or nothing (any bad field refuses all). */
  async replaceConfig(body: unknown, options: WriteOptions, actor: Actor): Promise<{ revision: number }> {
    return this.change(actor, 'replace', true, (state) => {
      if (!ifMatchAdmits(options.ifMatch, state.revision))
        throw new ProblemError(412, 'precondition-failed', `the configuration is at revision ${state.revision}; If-Match did not match`, { revision: state.revision });
      const { next } = nextStateFor(state, body);
      return {
        next,
        audit: [{ action: 'replace', kind: 'config', id: null, before: counts(state), after: counts(next) }],
        result: { revision: state.revision + 1 },
      };
    });
  }

  async revisions(limit = 50): Promise<Array<Omit<RevisionRecord, 'state'> & { counts: Record<ConfigKind, number> }>> {
    // MongoDB keeps snapshots apart and counts them without loading one (store/mongo-store.ts).
    if (this.store.listRevisionSummaries) return this.store.listRevisionSummaries(limit);
    const records = await this.store.listRevisions(limit);
    return records.map(({ state, ...meta }) => ({ ...meta, counts: counts(state) }));
  }

  async revision(n: number): Promise<Omit<RevisionRecord, 'state'> & { config: GatewayConfig }> {
    const record = await this.store.getRevision(n);
    if (!record) throw new ProblemError(404, 'not-found', `revision ${n} is not kept (only the last revisions are)`);
    const { state, ...meta } = record;
    return { ...meta, config: exportConfig({ ...withAllCollections(state), revision: n, keys: [], users: [], secrets: {} }) };
  }

  /** Rollback: the configuration collections of revision `n`, as a new revision. */
  async restore(n: number, actor: Actor): Promise<{ revision: number }> {
    const record = await this.store.getRevision(n);
    if (!record) throw new ProblemError(404, 'not-found', `revision ${n} is not kept (only the last revisions are)`);
    return this.change(actor, 'restore', true, (state) => {
      const next = restoredState(state, record);
      return {
        next,
        audit: [{ action: 'restore', kind: 'config', id: String(n), before: counts(state), after: { ...counts(next), restoredRevision: n } }],
        result: { revision: state.revision + 1 },
      };
    });
  }

  async audit(options: { limit?: number; offset?: number } = {}): Promise<AuditEntry[]> {
    return (await this.store.listAudit(options)).map((entry) => withoutSecrets(entry));
  }
}

function counts(state: Partial<Pick<ConfigState, ConfigKind>>): Record<ConfigKind, number> {
  return Object.fromEntries(CONFIG_KINDS.map((kind) => [kind, state[kind]?.length ?? 0])) as Record<ConfigKind, number>;
}

function view(kind: ItemKind, item: Item): Item {
  if (kind === 'consumers') return consumerView(item as never) as unknown as Item;
  if (kind === 'certificates') return certificateView(item as never) as unknown as Item;
  if (kind === 'users') return userView(item as unknown as StoredUser) as unknown as Item;
  return { ...item };
}

function nameOf(kind: ItemKind, item: Record<string, unknown>): string {
  return String(kind === 'users' ? item.email : item.name);
}

function findByName(state: ConfigState, kind: ItemKind, name: string): Item | undefined {
  const wanted = kind === 'users' ? name.toLowerCase() : name;
  return (state[kind] as unknown as Item[]).find((i) => nameOf(kind, i) === wanted);
}

/** Items are addressable by id or by their unique name (a user's name is the email). */
export function findItem(state: ConfigState, kind: ItemKind, ref: string): Item | undefined {
  return (state[kind] as unknown as Item[]).find((i) => i.id === ref) ?? findByName(state, kind, ref);
}

function mustFind(state: ConfigState, kind: ItemKind, ref: string): Item {
  const item = findItem(state, kind, ref);
  if (!item) throw new ProblemError(404, 'not-found', `no ${SINGULAR[kind]} with id or name "${ref}"`);
  return item;
}

function withItem(state: ConfigState, kind: ItemKind, item: Item): ConfigState {
  const items = state[kind] as unknown as Item[];
  const index = items.findIndex((i) => i.id === item.id);
  const next = index === -1 ? [...items, item] : items.map((i, n) => (n === index ? item : i));
  return { ...state, [kind]: next };
}

function duplicateName(kind: ItemKind, name: string): ProblemError {
  const field = kind === 'users' ? 'email' : 'name';
  return new ProblemError(409, 'duplicate-name', `a ${SINGULAR[kind]} with ${field} "${name}" already exists`, {
    errors: [{ path: `/${field}`, message: `"${name}" is already taken` }],
  });
}

function checkPrecondition(kind: ItemKind, item: Item, ifMatch: string[] | undefined, bodyVersion: number | undefined): void {
  // A body that carries the version it was read at is a precondition too: a console that
  // PUTs back what it loaded must not overwrite someone else's edit made in between.
  if (ifMatchAdmits(ifMatch, item.version) && (bodyVersion === undefined || bodyVersion === item.version)) return;
  throw new ProblemError(
    412,
    'precondition-failed',
    `${SINGULAR[kind]} "${nameOf(kind, item)}" is at version ${item.version}; the change was made against another version`,
    { currentVersion: item.version },
  );
}

function stripStored(body: Record<string, unknown>): Record<string, unknown> {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...rest } = body;
  return rest;
}

function sameContent(old: Item, content: Record<string, unknown>): boolean {
  return JSON.stringify(stripStored(old)) === JSON.stringify(stripStored(content));
}

/** Validate a request body against the kind's spec schema (defaults applied); users get their password hashed. */
async function prepare(kind: ItemKind, body: unknown, mode: 'create' | 'replace'): Promise<{ input: Record<string, unknown>; bodyVersion: number | undefined }> {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new ValidationError([{ path: '/', message: 'must be an object' }]);
  const raw = body as Record<string, unknown>;
  const bodyVersion = typeof raw.version === 'number' ? raw.version : undefined;
  const input = validateItem<Record<string, unknown>>(SINGULAR[kind], stripStored(structuredClone(raw)));
  if (kind !== 'users') return { input, bodyVersion };
  const { password, ...user } = input as { password?: string; email: string };
  user.email = user.email.toLowerCase();
  if (password === undefined) {
    if (mode === 'create') throw new ValidationError([{ path: '/password', message: 'is required' }]);
    return { input: user, bodyVersion };
  }
  return { input: { ...user, passwordHash: await hashPassword(password) }, bodyVersion };
}

/** Write-only fields a replacement left out keep their stored values (so GET → edit → PUT loses nothing). */
function completeFromStored(kind: ItemKind, input: Record<string, unknown>, old: Item): Record<string, unknown> {
  if (kind === 'users' && input.passwordHash === undefined) return { ...input, passwordHash: old.passwordHash };
  if (kind === 'certificates' && input.key === undefined && old.key !== undefined) return { ...input, key: old.key };
  if (kind === 'consumers' && Array.isArray(input.jwt)) {
    const stored = (old.jwt as Array<{ issuer: string; secret?: string }> | undefined) ?? [];
    const jwt = (input.jwt as Array<{ issuer: string; secret?: string; publicKey?: string; jwksUrl?: string }>).map((cred) => {
      if (cred.secret || cred.publicKey || cred.jwksUrl) return cred;
      const secret = stored.find((s) => s.issuer === cred.issuer)?.secret;
      return secret ? { ...cred, secret } : cred;
    });
    return { ...input, jwt };
  }
  return input;
}

/** There is always someone who can manage users. */
function keepAnAdmin(next: ConfigState): void {
  if (!next.users.some((u) => u.role === 'admin'))
    throw new ProblemError(409, 'last-admin', 'this change would leave no admin; make another user admin first');
}

/**
 * Schema-independent checks of the configuration as it would be after the change. Problems with
 * the changed item itself are a 400 naming its fields; problems it causes elsewhere (an upstream
 * a route still names, a route a consumer still lists) are a 409: the item is in use.
 */
function checkReferences(next: ConfigState, kind: ConfigKind, changed: Item | undefined, removed?: Item): void {
  const config = Object.fromEntries(CONFIG_KINDS.map((k) => [k, next[k]])) as unknown as Record<ConfigKind, Item[]>;
  // The changed item goes last so that a clash (duplicate path, duplicate target) is reported on it.
  if (changed) config[kind] = [...config[kind].filter((i) => i.id !== changed.id), changed];
  const errors = crossReferenceErrors(config as unknown as GatewayConfig);
  if (errors.length === 0) return;
  const own: FieldError[] = [];
  const elsewhere: FieldError[] = [];
  const ownPrefix = changed ? `/${kind}/${config[kind].length - 1}` : undefined;
  for (const e of errors) {
    if (ownPrefix && (e.path === ownPrefix || e.path.startsWith(`${ownPrefix}/`))) own.push({ path: e.path.slice(ownPrefix.length) || '/', message: e.message });
    else elsewhere.push(namedPath(config, e));
  }
  if (own.length) throw new ValidationError(own);
  const subject = changed ?? removed!;
  const users = [...new Set(elsewhere.map((e) => e.path.split('/').slice(1, 3).join(' ')))];
  throw new ProblemError(
    409,
    'in-use',
    `${SINGULAR[kind]} "${subject.name as string}" is in use by ${users.map((u) => u.replace(/^(\w+)s (.*)$/, '$1 "$2"')).join(', ')}`,
    { errors: elsewhere },
  );
}

/** `/routes/3/upstream` → `/routes/chat/upstream`: positions in a synthetic list mean nothing to the caller. */
function namedPath(config: Record<ConfigKind, Item[]>, e: FieldError): FieldError {
  const [, kind, index, ...rest] = e.path.split('/');
  const item = config[kind as ConfigKind]?.[Number(index)];
  if (!item) return e;
  return { path: ['', kind, item.name as string, ...rest].join('/'), message: e.message };
}
