/**
 * MongoDB reserves `$`-prefixed and dotted field names, but configuration carries arbitrary JSON
 * (a route's JSON Schema has `$ref`, `$schema`, property names with dots). Such keys are stored
 * with their `$` and `.` swapped for look-alikes that cannot occur in them otherwise
 * (U+FF04 FULLWIDTH DOLLAR SIGN, U+FF0E FULLWIDTH FULL STOP) and swapped back on read.
 * A key that already contains a look-alike gets a marker so the mapping stays one-to-one.
 */
const DOLLAR = '\uFF04';
const DOT = '\uFF0E';
const MARK = '\uFF03'; // FULLWIDTH NUMBER SIGN: "this key was written with look-alikes already"

function encodeKey(key: string): string {
  if (key.startsWith(MARK) || key.includes(DOLLAR) || key.includes(DOT)) return MARK + key;
  if (!key.includes('$') && !key.includes('.')) return key;
  return key.replaceAll('$', DOLLAR).replaceAll('.', DOT);
}

function decodeKey(key: string): string {
  if (key.startsWith(MARK)) return key.slice(1);
  if (!key.includes(DOLLAR) && !key.includes(DOT)) return key;
  return key.replaceAll(DOLLAR, '$').replaceAll(DOT, '.');
}

function mapKeys(value: unknown, map: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => mapKeys(v, map));
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[map(k)] = mapKeys(v, map);
  return out;
}

export function toMongo<T>(value: T): T {
  return mapKeys(value, encodeKey) as T;
}

export function fromMongo<T>(value: unknown): T {
  return mapKeys(value, decodeKey) as T;
}
