/**
 * RFC 9110 §13.1.1: `If-Match` is a list of entity tags or `*`. Our tags are strong
 * (`"<version>"`); a weak `W/"3"` is accepted as "3" because clients and proxies add the
 * prefix freely and the version number alone identifies the representation.
 */
export function parseIfMatch(header: string | string[] | undefined): string[] | undefined {
  if (header === undefined) return undefined;
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (raw.trim() === '') return undefined;
  return raw
    .split(',')
    .map((t) => t.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'))
    .filter((t) => t.length > 0);
}

export function etagFor(version: number): string {
  return `"${version}"`;
}

/** Whether a precondition list admits the current version (absent = no precondition). */
export function ifMatchAdmits(ifMatch: string[] | undefined, version: number): boolean {
  if (ifMatch === undefined) return true;
  return ifMatch.includes('*') || ifMatch.includes(String(version));
}
