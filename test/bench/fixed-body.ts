/**
 * The body every bench upstream answers with: printable, no quotes, `$` or backslashes, so it
 * can sit verbatim inside nginx's `return 200 "…"`, and exactly `bytes` long.
 */
export function fixedBody(bytes: number): string {
  return 'switchboard-bench-upstream-'.padEnd(bytes, '0123456789abcdef').slice(0, bytes);
}
