import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, errorText, get } from '../api';
import { ErrorNote, Loading, StateBadge, when } from '../components/Bits';
import { ItemEditor } from '../components/ItemEditor';
import { ItemPage } from '../components/ItemPage';
import { useList, type Item } from '../items';
import { useSession } from '../session';

interface KeyView {
  id: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}
interface IssuedKey {
  id: string;
  key: string;
  prefix: string;
  expiresAt: string | null;
}

const limitText = (c: Item) => {
  const rate = c.rateLimit as { max: number; windowMs: number } | undefined;
  const quota = c.quota as { max: number; period: string } | undefined;
  const parts = [rate ? `${rate.max} per ${rate.windowMs / 1000} s` : null, quota ? `quota ${quota.max} per ${quota.period}` : null].filter(Boolean);
  return parts.length ? parts.join(', ') : 'route limits only';
};

export function ConsumerList() {
  const { canEdit } = useSession();
  const list = useList('consumers');
  return (
    <>
      <div className="page-head">
        <h1>Consumers</h1>
        {canEdit && (
          <Link className="button primary" to="/consumers/new">
            New consumer
          </Link>
        )}
      </div>
      {list.isPending ? (
        <Loading what="consumers" />
      ) : list.isError ? (
        <ErrorNote error={list.error} />
      ) : (
        <div className="table-scroll">
          <table className="data" aria-label="Consumers">
            <thead>
              <tr>
                <th scope="col">name</th>
                <th scope="col">routes</th>
                <th scope="col">limits</th>
                <th scope="col">JWT issuers</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Link to={`/consumers/${encodeURIComponent(String(c.name))}`}>{String(c.name)}</Link>
                  </td>
                  <td>{(c.routes as string[] | undefined)?.join(', ') ?? 'every route'}</td>
                  <td>{limitText(c)}</td>
                  <td>{((c.jwt as Array<{ issuer: string }> | undefined) ?? []).map((j) => j.issuer).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

/** The plaintext key, shown once: the API never returns it again. */
function NewKey({ issued, onDone }: { issued: IssuedKey; onDone(): void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(issued.key);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div className="new-key" role="alert">
      <p>
        <strong>Copy this key now: it will not be shown again.</strong> Only its prefix is kept readable; the store holds a hash.
      </p>
      <label htmlFor="issued-key">New API key</label>
      <div className="copy-row">
        <input id="issued-key" readOnly value={issued.key} onFocus={(e) => e.target.select()} data-testid="issued-key" />
        <button type="button" onClick={() => void copy()}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <button type="button" onClick={onDone}>
        I have stored it
      </button>
    </div>
  );
}

function Keys({ consumer }: { consumer: string }) {
  const { canEdit } = useSession();
  const queryClient = useQueryClient();
  const path = `/consumers/${encodeURIComponent(consumer)}/keys`;
  const keys = useQuery({ queryKey: ['keys', consumer], queryFn: () => get<KeyView[]>(path) });
  const [issued, setIssued] = useState<IssuedKey | null>(null);
  const [grace, setGrace] = useState('3600');
  const [confirmRevoke, setConfirmRevoke] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const run = async (call: () => Promise<IssuedKey | undefined>) => {
    setNote(null);
    try {
      const answer = await call();
      if (answer) setIssued(answer);
      await queryClient.invalidateQueries({ queryKey: ['keys', consumer] });
    } catch (err) {
      setNote(errorText(err));
    }
  };
  const issue = () => run(async () => (await api<IssuedKey>('POST', path, { body: {} })).data);
  const rotate = (id: string) => {
    const seconds = Number(grace);
    if (!Number.isInteger(seconds) || seconds < 0) {
      setNote('The grace period is a whole number of seconds, 0 or more.');
      return;
    }
    void run(async () => (await api<IssuedKey>('POST', `${path}/${id}/rotate`, { body: { graceSeconds: seconds } })).data);
  };
  const revoke = (id: string) =>
    run(async () => {
      await api('DELETE', `${path}/${id}`);
      setConfirmRevoke(null);
      return undefined;
    });

  return (
    <section aria-labelledby="keys-h">
      <div className="page-head">
        <h2 id="keys-h">API keys</h2>
        {canEdit && (
          <>
            <button type="button" className="primary" onClick={() => void issue()}>
              Issue a key
            </button>
            <label className="inline">
              Rotation grace (seconds)
              <input type="number" min={0} value={grace} onChange={(e) => setGrace(e.target.value)} />
            </label>
          </>
        )}
      </div>
      {issued && <NewKey issued={issued} onDone={() => setIssued(null)} />}
      {note && (
        <p className="message error" role="alert">
          {note}
        </p>
      )}
      {keys.isPending ? (
        <Loading what="keys" />
      ) : keys.isError ? (
        <ErrorNote error={keys.error} />
      ) : keys.data.length === 0 ? (
        <p className="muted">No key yet.</p>
      ) : (
        <div className="table-scroll">
          <table className="data" aria-label="API keys">
            <thead>
              <tr>
                <th scope="col">prefix</th>
                <th scope="col">status</th>
                <th scope="col">created</th>
                <th scope="col">expires</th>
                <th scope="col">last used</th>
                {canEdit && <th scope="col">actions</th>}
              </tr>
            </thead>
            <tbody>
              {keys.data.map((k) => (
                <tr key={k.id}>
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>
                    <StateBadge state={k.status} />
                  </td>
                  <td>{when(k.createdAt)}</td>
                  <td>{when(k.expiresAt)}</td>
                  <td>{when(k.lastUsedAt)}</td>
                  {canEdit && (
                    <td className="row-actions">
                      {k.status !== 'revoked' &&
                        (confirmRevoke === k.id ? (
                          <>
                            <span>Revoke {k.prefix}…? Requests with it fail at once.</span>
                            <button type="button" className="danger" onClick={() => void revoke(k.id)}>
                              Yes, revoke
                            </button>
                            <button type="button" onClick={() => setConfirmRevoke(null)}>
                              Cancel
                            </button>
                          </>
                        ) : (
                          <>
                            <button type="button" onClick={() => rotate(k.id)}>
                              Rotate
                            </button>
                            <button type="button" className="danger" onClick={() => setConfirmRevoke(k.id)}>
                              Revoke
                            </button>
                          </>
                        ))}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function ConsumerPage() {
  return (
    <ItemPage
      kind="consumers"
      render={({ item: consumer, etag }) => (
        <>
          <div className="page-head">
            <h1>
              Consumer <code>{String(consumer.name)}</code>
            </h1>
            <span className="muted">
              {limitText(consumer)} · routes: {(consumer.routes as string[] | undefined)?.join(', ') ?? 'every route'}
            </span>
          </div>
          <Keys consumer={String(consumer.name)} />
          <h2>Definition</h2>
          <ItemEditor key={consumer.id} kind="consumers" item={consumer} etag={etag} onSaved={() => {}} />
        </>
      )}
    />
  );
}
