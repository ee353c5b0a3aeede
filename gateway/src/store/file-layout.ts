import type { FileHandle } from 'node:fs/promises';

/**
 * The embedded store's document as commit() writes it, so that the configuration in force can be
 * read without the kept history. The file is one JSON object,
 *
 *   {"format":1,"state":{…},"revisions":[…],"audit":[…],"stateEnd":N}
 *
 * where N is the byte offset at which the state's JSON ends. A node reads the state on every
 * start and every reload, while the file also holds up to 50 past revisions of the whole
 * configuration: with 10 000 routes that is ≈ 3.5 MB of state in up to ≈ 180 MB of file, and
 * parsing all of it stalled the event loop and grew the heap by hundreds of MB for nothing.
 * Reading the state alone takes the last bytes (for N) and the state's own range.
 *
 * Anything that does not have this exact layout — a file written before it, or edited by hand —
 * is read whole, as before (`undefined` below); so is any history or audit read.
 */
const HEAD = '{"format":1,"state":';
const AFTER_STATE = ',"revisions":';
const TAIL_BYTES = 40;
const TAIL = /,"stateEnd":(\d+)\}$/;

/** The document's text, its state first and its end offset last. */
export function documentText(state: object, revisions: unknown[], audit: unknown[]): string {
  const head = HEAD + JSON.stringify(state);
  return `${head}${AFTER_STATE}${JSON.stringify(revisions)},"audit":${JSON.stringify(audit)},"stateEnd":${Buffer.byteLength(head)}}`;
}

/** The state's JSON text from an open document in this layout; undefined when it is not in it. */
export async function readStateText(file: FileHandle): Promise<string | undefined> {
  const { size } = await file.stat();
  if (size < HEAD.length + AFTER_STATE.length + TAIL_BYTES) return undefined;
  const tail = await readAt(file, size - TAIL_BYTES, TAIL_BYTES);
  const match = TAIL.exec(tail.toString('latin1'));
  if (!match) return undefined;
  const end = Number(match[1]);
  if (!Number.isSafeInteger(end) || end <= HEAD.length || end + AFTER_STATE.length > size - TAIL_BYTES + match.index) return undefined;
  const bytes = await readAt(file, 0, end + AFTER_STATE.length);
  if (bytes.toString('latin1', 0, HEAD.length) !== HEAD || bytes.toString('latin1', end) !== AFTER_STATE) return undefined;
  return bytes.toString('utf8', HEAD.length, end);
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
