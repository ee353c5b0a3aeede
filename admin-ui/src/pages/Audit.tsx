import { useState } from 'react';
import { ErrorNote, Loading, when } from '../components/Bits';
import { DiffView } from '../components/Diff';
import { useList } from '../items';
// The store's own type of an audit entry, as the admin API serves it: one definition for both sides.
import type { AuditEntry } from '../../../gateway/src/store/port';

const nameOf = (e: AuditEntry) => {
  const item = (e.after ?? e.before) as { name?: string; email?: string } | null;
  return item?.name ?? item?.email ?? e.id ?? '';
};

export function Audit() {
  const list = useList<AuditEntry>('audit', '/audit?limit=200');
  const [open, setOpen] = useState<number | null>(null);
  return (
    <>
      <h1>Audit log</h1>
      <p className="muted">Every change, newest first; open one to see what it changed, field by field. Secrets never appear here.</p>
      {list.isPending ? (
        <Loading what="the audit log" />
      ) : list.isError ? (
        <ErrorNote error={list.error} />
      ) : (
        <ol className="audit">
          {list.data.map((e, i) => (
            <li key={`${e.revision}-${i}`}>
              <button type="button" className="audit-line" aria-expanded={open === i} onClick={() => setOpen(open === i ? null : i)}>
                <span className="muted">{when(e.at)}</span> <strong>{e.actor}</strong> {e.action} {e.kind} <code>{nameOf(e)}</code> <span className="muted">revision {e.revision}</span>
              </button>
              {open === i && <DiffView before={e.before} after={e.after} ignore={['/updatedAt', '/version']} />}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}
