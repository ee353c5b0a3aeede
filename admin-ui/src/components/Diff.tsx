/**
 * A readable difference between two JSON values: one line per changed leaf, named by its path
 * (`/targets/1/weight: 1 → 5`), for audit entries and conflicts alike.
 */
export interface Change {
  path: string;
  before: unknown;
  after: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

export function diff(before: unknown, after: unknown, path = ''): Change[] {
  if (isObject(before) && isObject(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => diff(before[k], after[k], `${path}/${k}`));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path: path || '/', before, after }];
}

const show = (v: unknown) => (v === undefined ? '—' : JSON.stringify(v));

export function DiffView({ before, after, beforeLabel = 'before', afterLabel = 'after', ignore = [] }: { before: unknown; after: unknown; beforeLabel?: string; afterLabel?: string; ignore?: string[] }) {
  const changes = diff(before, after).filter((c) => !ignore.some((p) => c.path === p || c.path.startsWith(`${p}/`)));
  if (changes.length === 0) return <p className="muted">No field differs.</p>;
  return (
    <table className="diff">
      <thead>
        <tr>
          <th scope="col">field</th>
          <th scope="col">{beforeLabel}</th>
          <th scope="col">{afterLabel}</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((c) => (
          <tr key={c.path}>
            <td>
              <code>{c.path}</code>
            </td>
            <td className="removed">{show(c.before)}</td>
            <td className="added">{show(c.after)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
