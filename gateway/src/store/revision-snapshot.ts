import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { RevisionRecord } from './port.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * Bytes per stored chunk of a revision snapshot. MongoDB refuses documents over 16 MiB; a
 * snapshot of 10 000 routes is ≈ 5 MiB of BSON and ≈ 30 000 routes (fewer with PEM keys) passed
 * the limit as one document, after which every configuration write failed. Gzipped JSON in
 * 4 MiB chunks has no such cliff (a revision of any size is ⌈size/4 MiB⌉ documents) and is an
 * order of magnitude smaller: configuration JSON repeats the same field names item after item.
 */
export const SNAPSHOT_CHUNK_BYTES = 4 * 2 ** 20;

/** A revision's collections as stored: gzipped JSON split into chunks. JSON, so no key is reserved. */
export async function encodeSnapshot(state: RevisionRecord['state'], chunkBytes = SNAPSHOT_CHUNK_BYTES): Promise<Buffer[]> {
  // Compressed off the event loop's thread: the admin API shares its process with partner traffic.
  const packed = await gzipAsync(Buffer.from(JSON.stringify(state)));
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < packed.length; offset += chunkBytes) chunks.push(packed.subarray(offset, offset + chunkBytes));
  return chunks.length > 0 ? chunks : [packed];
}

export async function decodeSnapshot(chunks: Uint8Array[]): Promise<RevisionRecord['state']> {
  return JSON.parse((await gunzipAsync(Buffer.concat(chunks))).toString('utf8')) as RevisionRecord['state'];
}
