/**
 * MongoDB reserves `$`-prefixed and dotted field names, but configuration carries arbitrary JSON
 * (a route's JSON Schema has `$ref`, `$schema`, property names with dots). Such keys are stored
 * with their `$` and `.` swapped for look-alikes that cannot occur in them otherwise
 * (U+FF04 FULLWIDTH DOLLAR SIGN, U+FF0E FULLWIDTH FULL STOP) and swapped back on read.
 * A key that already contains a look-alike gets a marker so the mapping stays one-to-one.
 *
 * Two more keys cannot be stored as they are: one holding NUL (BSON field names are C strings,
 * the serializer throws) and `_bsontype` (the serializer takes an object carrying it for a BSON
 * value and refuses or mis-writes it). Those, and keys that happen to begin with the escape
 * marker, are stored as ESCAPED + the key with `%`, NUL, `$` and `.` percent-encoded.
 */
const DOLLAR = '\uFF04';
const DOT = '\uFF0E';
const MARK = '\uFF03'; // FULLWIDTH NUMBER SIGN: "this key was written with look-alikes already"
const ESCAPED = '\uFF05'; // FULLWIDTH PERCENT SIGN: "the rest is percent-encoded"

const needsEscape = (key: string) => key === '_bsontype' || key.includes('\0') || key.startsWith(ESCAPED);

function escapeKey(key: string): string {
  return ESCAPED + key.replace(/[%\0$.]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}

function encodeKey(key: string): string {
  if (needsEscape(key)) return escapeKey(key);
  if (key.startsWith(MARK) || key.includes(DOLLAR) || key.includes(DOT)) return MARK + key;
  if (!key.includes('$') && !key.includes('.')) return key;
  return key.replaceAll('$', DOLLAR).replaceAll('.', DOT);
}

function decodeKey(key: string): string {
  if (key.startsWith(ESCAPED)) return key.slice(1).replace(/%([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  if (key.startsWith(MARK)) return key.slice(1);
  if (!key.includes(DOLLAR) && !key.includes(DOT)) return key;
  return key.replaceAll(DOLLAR, '$').replaceAll(DOT, '.');
}

function mapKeys(value: unknown, map: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => mapKeys(v, map));
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    // defineProperty: a JSON `__proto__` key is data; assigning it would set the prototype instead.
    Object.defineProperty(out, map(k), { value: mapKeys(v, map), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export function toMongo<T>(value: T): T {
  return mapKeys(value, encodeKey) as T;
}

export function fromMongo<T>(value: unknown): T {
  return mapKeys(value, decodeKey) as T;
}
