import type { FileHandle } from 'node:fs/promises';

/**
 * The embedded store's document as commit() writes it, so that neither a read of the
 * configuration in force nor a commit has to parse the kept history. The file is one JSON object,
 *
 *   {"format":1,"state":{…},"revisions":[{…},{…}],"audit":[…],"stateEnd":N,"revisionEnds":[E1,E2]}
 *
 * where N is the byte offset at which the state's JSON ends and Ei the offset at which revision
 * record i ends. The file keeps up to 50 past revisions of the whole configuration: with 10 000
 * routes that is ≈ 3.5 MB of state in up to ≈ 180 MB of file, and parsing all of it on every
 * start, reload and commit stalled the event loop for seconds and grew the heap by hundreds of
 * MB for nothing. A read takes the state's own bytes; a commit copies the records it keeps as
 * bytes and parses only the audit list.
 *
 * Anything without this exact layout — a file written before it, or edited by hand — is read
 * whole, as before (`undefined` below), and the next commit writes it in this layout.
 */
const HEAD = '{"format":1,"state":';
const AFTER_STATE = ',"revisions":';
const AUDIT = ',"audit":';
/** The tail holds two numbers per kept revision at most; 50 revisions take ≈ 600 bytes. */
const TAIL_BYTES = 8192;
const TAIL = /,"stateEnd":(\d+)(?:,"revisionEnds":\[(\d+(?:,\d+)*)?\])?\}$/;
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** The document's bytes: the state, the revision records (JSON text, or bytes copied from the old file) and the audit list. */
export function documentBytes(stateText: string, records: ReadonlyArray<string | Uint8Array>, auditText: string): Buffer {
  const head = Buffer.from(`${HEAD}${stateText}${AFTER_STATE}[`);
  const stateEnd = head.length - AFTER_STATE.length - 1;
  const pieces: Uint8Array[] = [head];
  const ends: number[] = [];
  let offset = head.length;
  for (const [i, record] of records.entries()) {
    const bytes = typeof record === 'string' ? Buffer.from(record) : record;
    if (i > 0) {
      pieces.push(Buffer.of(COMMA));
      offset += 1;
    }
    pieces.push(bytes);
    offset += bytes.length;
    ends.push(offset);
  }
  pieces.push(Buffer.from(`]${AUDIT}${auditText},"stateEnd":${stateEnd},"revisionEnds":[${ends.join(',')}]}`));
  return Buffer.concat(pieces);
}

interface Tail {
  stateEnd: number;
  revisionEnds: number[] | undefined;
  /** Where the tail (`,"stateEnd":…`) starts in the file. */
  at: number;
}

function tailOf(bytes: Buffer, position: number): Tail | undefined {
  const match = TAIL.exec(bytes.toString('latin1'));
  if (!match) return undefined;
  const stateEnd = Number(match[1]);
  const revisionEnds = match[2] === undefined ? (match[0].includes('revisionEnds') ? [] : undefined) : match[2].split(',').map(Number);
  if (!Number.isSafeInteger(stateEnd) || revisionEnds?.some((n) => !Number.isSafeInteger(n))) return undefined;
  return { stateEnd, revisionEnds, at: position + match.index };
}

/** The state's JSON text from an open document in this layout; undefined when it is not in it. */
export async function readStateText(file: FileHandle): Promise<string | undefined> {
  const { size } = await file.stat();
  if (size < HEAD.length + AFTER_STATE.length) return undefined;
  const from = Math.max(0, size - TAIL_BYTES);
  const tail = tailOf(await readAt(file, from, size - from), from);
  if (tail === undefined || tail.stateEnd <= HEAD.length || tail.stateEnd + AFTER_STATE.length > tail.at) return undefined;
  const end = tail.stateEnd;
  const bytes = await readAt(file, 0, end + AFTER_STATE.length);
  if (bytes.toString('latin1', 0, HEAD.length) !== HEAD || bytes.toString('latin1', end) !== AFTER_STATE) return undefined;
  return bytes.toString('utf8', HEAD.length, end);
}

/** What a commit needs of the document it replaces, without parsing the history. */
export interface DocumentParts {
  /** The revision in force, from the state's first field. */
  revision: number;
  /** Each kept revision record's JSON, newest first, as bytes of `doc`. */
  records: Buffer[];
  /** The audit list's JSON text. */
  auditText: string;
}

/** The parts of a whole document in this layout; undefined when it is not in it. */
export function partsOf(doc: Buffer): DocumentParts | undefined {
  const from = Math.max(0, doc.length - TAIL_BYTES);
  const tail = tailOf(doc.subarray(from), from);
  if (tail === undefined || tail.revisionEnds === undefined) return undefined;
  if (doc.toString('latin1', 0, HEAD.length) !== HEAD) return undefined;
  const revision = /^\{"revision":(\d+),/.exec(doc.toString('latin1', HEAD.length, HEAD.length + 32));
  if (!revision) return undefined;
  let at = tail.stateEnd;
  if (at <= HEAD.length || doc.toString('latin1', at, at + AFTER_STATE.length + 1) !== `${AFTER_STATE}[`) return undefined;
  at += AFTER_STATE.length + 1;
  const records: Buffer[] = [];
  const last = tail.revisionEnds.length - 1;
  for (const [i, end] of tail.revisionEnds.entries()) {
    // Each record is one object, followed by `,` before the next or `]` after the last.
    if (end <= at || end >= tail.at || doc[at] !== OPEN_BRACE || doc[end - 1] !== CLOSE_BRACE || doc[end] !== (i === last ? CLOSE_BRACKET : COMMA)) return undefined;
    records.push(doc.subarray(at, end));
    at = end + 1;
  }
  if (last === -1) {
    if (doc[at] !== CLOSE_BRACKET) return undefined;
    at += 1;
  }
  if (doc.toString('latin1', at, at + AUDIT.length) !== AUDIT) return undefined;
  return { revision: Number(revision[1]), records, auditText: doc.toString('utf8', at + AUDIT.length, tail.at) };
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error('the store file ended early (truncated while being read)');
    done += bytesRead;
  }
  return buffer;
}
