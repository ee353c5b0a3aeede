import { RevisionListeners } from './revision-listeners.js';
import { watch, type FSWatcher } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { documentBytes, partsOf, readStateText } from './file-layout.js';
import { LOCK_STALE_MS, LockLostError, LockTimeoutError, withFileLock } from './file-lock.js';
import {
  emptyState,
  revisionState,
  RevisionConflictError,
  StoreUnavailableError,
  type AuditEntry,
  type CommitOptions,
  type ConfigState,
  type ConfigStore,
  type RevisionRecord,
} from './port.js';

/** A writer waits this long for the lock: past a crashed writer's stale lock, with room to spare. */
const LOCK_TIMEOUT_MS = 15_000;

interface FileDocument {
  format: 1;
  state: ConfigState;
  revisions: RevisionRecord[];
  audit: AuditEntry[];
}

export interface FileStoreOptions {
  /** How many past configurations are kept for rollback. */
  keepRevisions?: number;
  /** How many audit entries are kept (oldest dropped first). */
  keepAudit?: number;
  /** Poll interval backing up fs.watch, which can miss events on some file systems. */
  pollMs?: number;
  /** How long a writer's lock may go unrefreshed before another process breaks it (a crashed writer). */
  lockStaleMs?: number;
}

/**
 * The embedded store: one JSON document on local disk. Every commit takes a cross-process
 * lock, re-reads, checks the revision, and replaces the file atomically, so several gateway
 * processes on one machine can share it and a crash never leaves half a configuration.
 */
export class FileStore implements ConfigStore {
  readonly kind = 'file' as const;
  readonly path: string;
  private readonly lockPath: string;
  private readonly keepRevisions: number;
  private readonly keepAudit: number;
  private readonly pollMs: number;
  private readonly lockStaleMs: number;
  private readonly listeners = new RevisionListeners();
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private lastSeen = { revision: -1, mtimeMs: 0, size: 0 };
  private checking = false;
  /** The newest revision this process has read from the file; > 0 means the file existed. */
  private seenRevision = 0;

  constructor(path: string, options: FileStoreOptions = {}) {
    this.path = resolve(path);
    this.lockPath = `${this.path}.lock`;
    this.keepRevisions = options.keepRevisions ?? 50;
    this.keepAudit = options.keepAudit ?? 10_000;
    this.pollMs = options.pollMs ?? 1000;
    this.lockStaleMs = options.lockStaleMs ?? LOCK_STALE_MS;
  }

  async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    await this.removeDeadTempFiles();
  }

  /**
   * A writer killed between creating its temp file and renaming it leaves the temp file behind
   * (the store itself is intact). Remove those of processes that no longer exist, so a crash
   * loop cannot fill the disk; a live writer's temp file is left alone.
   */
  private async removeDeadTempFiles(): Promise<void> {
    const prefix = `.${basename(this.path)}.`;
    const names = await readdir(dirname(this.path)).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
      const pid = Number(name.slice(prefix.length).split('.')[0]);
      if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue;
      await rm(join(dirname(this.path), name), { force: true });
    }
  }

  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    this.listeners.clear();
  }

  private async readDocument(): Promise<FileDocument> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // No file is a fresh store only if there never was one: a file that held revisions and
        // is gone, or a symlink to nowhere, is an outage. Read as empty, it would drop every
        // route and user, and the next admin write would start over at revision 1.
        if (this.seenRevision > 0) throw new StoreUnavailableError(`${this.path} has disappeared (it held revision ${this.seenRevision})`, { cause: err });
        const entry = await lstat(this.path).catch(() => undefined);
        if (entry?.isSymbolicLink()) throw new StoreUnavailableError(`cannot read ${this.path}: it is a symlink to a missing file`, { cause: err });
        // A first commit by another process landed between the read and the lstat: read that.
        if (entry !== undefined) return this.readDocument();
        return { format: 1, state: emptyState(), revisions: [], audit: [] };
      }
      throw new StoreUnavailableError(`cannot read ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const doc = JSON.parse(text) as FileDocument;
      doc.state = { ...emptyState(), ...doc.state };
      doc.revisions ??= [];
      doc.audit ??= [];
      this.seenRevision = Math.max(this.seenRevision, doc.state.revision ?? 0);
      return doc;
    } catch (err) {
      // Writes are atomic, so this means someone edited the file by hand; refuse rather than guess.
      throw new StoreUnavailableError(`${this.path} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The configuration in force: its own bytes of the file when the file has commit()'s layout (file-layout.ts), else the whole document. */
  async read(): Promise<ConfigState> {
    return (await this.readStateOnly()) ?? (await this.readDocument()).state;
  }

  /**
   * What a commit builds on: the revision in force, the kept records as they are in the file and
   * the audit list. A file in commit()'s layout is not parsed beyond its audit list
   * (file-layout.ts); any other is read whole, with readDocument's errors.
   */
  private async currentForCommit(): Promise<{ revision: number; records: Array<string | Uint8Array>; audit: AuditEntry[] }> {
    const bytes = await readFile(this.path).catch(() => undefined);
    const parts = bytes && partsOf(bytes);
    if (parts) {
      try {
        const audit = JSON.parse(parts.auditText) as AuditEntry[];
        this.seenRevision = Math.max(this.seenRevision, parts.revision);
        return { revision: parts.revision, records: parts.records, audit };
      } catch {
        // A broken audit list: the whole read below says what is wrong with the file.
      }
    }
    const doc = await this.readDocument();
    return { revision: doc.state.revision, records: doc.revisions.map((r) => JSON.stringify(r)), audit: doc.audit };
  }

  private async readStateOnly(): Promise<ConfigState | undefined> {
    let text: string | undefined;
    try {
      const file = await open(this.path, 'r');
      try {
        text = await readStateText(file);
      } finally {
        await file.close();
      }
    } catch {
      return undefined; // missing or unreadable: readDocument says which, as it always has
    }
    if (text === undefined) return undefined;
    let parsed: ConfigState;
    try {
      parsed = JSON.parse(text) as ConfigState;
    } catch {
      return undefined;
    }
    const state = { ...emptyState(), ...parsed };
    this.seenRevision = Math.max(this.seenRevision, state.revision ?? 0);
    return state;
  }

  /**
   * The revision from the file's first bytes when it has the layout commit() writes
   * (`{"format":1,"state":{"revision":N,…`); else from a full read. The watcher asks on every
   * change, and parsing a whole document of 10 000 routes and its kept revisions blocks the
   * event loop for ≈ 50-300 ms, once more than the reload's own read.
   */
  async revision(): Promise<number> {
    const head = await open(this.path, 'r')
      .then(async (file) => {
        try {
          const { buffer, bytesRead } = await file.read(Buffer.alloc(64), 0, 64, 0);
          return buffer.toString('utf8', 0, bytesRead);
        } finally {
          await file.close();
        }
      })
      .catch(() => '');
    const match = /^\{"format":1,"state":\{"revision":(\d+),/.exec(head);
    if (match) {
      const revision = Number(match[1]);
      this.seenRevision = Math.max(this.seenRevision, revision);
      return revision;
    }
    return (await this.readDocument()).state.revision;
  }

  async commit(next: ConfigState, options: CommitOptions): Promise<ConfigState> {
    try {
      return await this.commitLocked(next, options);
    } catch (err) {
      // Nothing was written: to the caller's compare-and-swap loop that is a conflict (read, retry).
      if (err instanceof LockLostError) throw new RevisionConflictError(options.expectedRevision, -1);
      if (err instanceof LockTimeoutError) throw new StoreUnavailableError(err.message, { cause: err });
      throw err;
    }
  }

  private commitLocked(next: ConfigState, options: CommitOptions): Promise<ConfigState> {
    return withFileLock(this.lockPath, async (guard) => {
      const { revision, records, audit } = await this.currentForCommit();
      if (revision !== options.expectedRevision) throw new RevisionConflictError(options.expectedRevision, revision);
      const at = new Date().toISOString();
      const state: ConfigState = { ...next, revision: options.expectedRevision + 1 };
      const record: RevisionRecord = { revision: state.revision, at, actor: options.actor, action: options.action, state: revisionState(state) };
      const kept = options.keepRevision ? [JSON.stringify(record), ...records].slice(0, this.keepRevisions) : records;
      const auditAfter: AuditEntry[] = [...options.audit.map((a) => ({ ...a, revision: state.revision })).reverse(), ...audit].slice(0, this.keepAudit);
      const text = documentBytes(JSON.stringify(state), kept, JSON.stringify(auditAfter));
      await guard();
      await writeFileAtomic(this.path, text);
      queueMicrotask(() => this.check());
      return state;
    }, LOCK_TIMEOUT_MS, this.lockStaleMs);
  }

  watch(listener: (revision: number) => void): () => void {
    return this.listeners.add(listener, () => {
      if (!this.poller) this.startWatching();
    });
  }

  private startWatching(): void {
    // Watch the directory, not the file: an atomic rename replaces the file's inode.
    try {
      const name = basename(this.path);
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
        if (file === null || file === name) this.check();
      });
      this.watcher.on('error', () => {});
    } catch {
      // Polling below still works.
    }
    this.poller = setInterval(() => this.check(), this.pollMs);
    this.poller.unref();
    void this.check();
  }

  private async check(): Promise<void> {
    if (this.checking || this.listeners.size === 0) return;
    this.checking = true;
    try {
      const info = await stat(this.path).catch(() => undefined);
      if (!info) return;
      if (info.mtimeMs === this.lastSeen.mtimeMs && info.size === this.lastSeen.size) return;
      const revision = await this.revision();
      this.lastSeen = { revision, mtimeMs: info.mtimeMs, size: info.size };
      this.listeners.tell(revision);
    } catch {
      // A torn read cannot happen (atomic rename); other errors: try again at the next tick.
    } finally {
      this.checking = false;
    }
  }

  private get usagePath(): string {
    return `${this.path}.usage.json`;
  }

  async recordKeyUsage(lastUsed: Record<string, string>): Promise<void> {
    await withFileLock(`${this.usagePath}.lock`, async (guard) => {
      const current = await this.readKeyUsage();
      for (const [id, at] of Object.entries(lastUsed)) if (!current[id] || current[id]! < at) current[id] = at;
      await guard();
      await writeFileAtomic(this.usagePath, JSON.stringify(current));
    }, LOCK_TIMEOUT_MS, this.lockStaleMs);
  }

  async readKeyUsage(): Promise<Record<string, string>> {
    try {
      return JSON.parse(await readFile(this.usagePath, 'utf8')) as Record<string, string>;
    } catch {
      return {};
    }
  }

  async listRevisions(limit = 50): Promise<RevisionRecord[]> {
    return (await this.readDocument()).revisions.slice(0, limit);
  }

  async getRevision(revision: number): Promise<RevisionRecord | undefined> {
    return (await this.readDocument()).revisions.find((r) => r.revision === revision);
  }

  async listAudit(options: { limit?: number; offset?: number } = {}): Promise<AuditEntry[]> {
    const { limit = 100, offset = 0 } = options;
    return (await this.readDocument()).audit.slice(offset, offset + limit);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
