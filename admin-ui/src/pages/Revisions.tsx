import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, errorText } from '../api';
import { ErrorNote, Loading, when } from '../components/Bits';
import { useList } from '../items';
import { useSession } from '../session';

interface RevisionSummary {
  revision: number;
  at: string;
  actor: string;
  action: string;
  counts: { upstreams: number; routes: number; consumers: number };
}

export function Revisions() {
  const { canEdit } = useSession();
  const queryClient = useQueryClient();
  const list = useList<RevisionSummary>('revisions', '/revisions?limit=100');
  const [confirm, setConfirm] = useState<number | null>(null);
  const [note, setNote] = useState<{ tone: 'ok' | 'error'; text: string } | null>(null);
  const restore = async (n: number) => {
    setNote(null);
    try {
      const { data } = await api<{ revision: number }>('POST', `/revisions/${n}/restore`);
      setNote({ tone: 'ok', text: `Restored revision ${n} as new revision ${data.revision}.` });
      setConfirm(null);
      await queryClient.invalidateQueries();
    } catch (err) {
      setNote({ tone: 'error', text: errorText(err) });
    }
  };
  return (
    <>
      <h1>Revisions</h1>
      <p className="muted">Kept configuration revisions, newest first. Restoring one makes a new revision with its content (audited); nothing is erased.</p>
      {note && (
        <p className={`message ${note.tone}`} role={note.tone === 'error' ? 'alert' : 'status'}>
          {note.text}
        </p>
      )}
      {list.isPending ? (
        <Loading what="revisions" />
      ) : list.isError ? (
        <ErrorNote error={list.error} />
      ) : (
        <div className="table-scroll">
          <table className="data" aria-label="Revisions">
            <thead>
              <tr>
                <th scope="col">revision</th>
                <th scope="col">when</th>
                <th scope="col">who</th>
                <th scope="col">what</th>
                <th scope="col">upstreams / routes / consumers</th>
                {canEdit && <th scope="col">actions</th>}
              </tr>
            </thead>
            <tbody>
              {list.data.map((r, i) => (
                <tr key={r.revision}>
                  <td>{r.revision}</td>
                  <td>{when(r.at)}</td>
                  <td>{r.actor}</td>
                  <td>{r.action}</td>
                  <td>
                    {r.counts.upstreams} / {r.counts.routes} / {r.counts.consumers}
                  </td>
                  {canEdit && (
                    <td className="row-actions">
                      {i === 0 ? (
                        <span className="muted">in force</span>
                      ) : confirm === r.revision ? (
                        <>
                          <span>Replace the configuration with revision {r.revision}?</span>
                          <button type="button" className="danger" onClick={() => void restore(r.revision)}>
                            Yes, restore
                          </button>
                          <button type="button" onClick={() => setConfirm(null)}>
                            Cancel
                          </button>
                        </>
                      ) : (
                        <button type="button" onClick={() => setConfirm(r.revision)}>
                          Restore…
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
