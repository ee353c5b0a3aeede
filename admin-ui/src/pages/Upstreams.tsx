import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { api, errorText, get } from '../api';
import { ErrorNote, Loading, StateBadge, when } from '../components/Bits';
import { ItemEditor } from '../components/ItemEditor';
import { ItemPage, type LoadedItem } from '../components/ItemPage';
import { useList, type Item } from '../items';
import { useSession } from '../session';

interface TargetHealth {
  url: string;
  state: 'healthy' | 'unhealthy' | 'draining';
  inFlight: number;
  latencyMs: number;
  lastCheck: { ok: boolean; at: string; latencyMs: number; detail: string } | null;
  ejections: number;
  ejectedUntil: string | null;
  weight: number;
  effectiveWeight: number;
  backup: boolean;
}

export function UpstreamList() {
  const { canEdit } = useSession();
  const list = useList('upstreams');
  return (
    <>
      <div className="page-head">
        <h1>Upstreams</h1>
        {canEdit && (
          <Link className="button primary" to="/upstreams/new">
            New upstream
          </Link>
        )}
      </div>
      {list.isPending ? (
        <Loading what="upstreams" />
      ) : list.isError ? (
        <ErrorNote error={list.error} />
      ) : list.data.length === 0 ? (
        <p className="muted">No upstream yet.</p>
      ) : (
        <table className="data" aria-label="Upstreams">
          <thead>
            <tr>
              <th scope="col">name</th>
              <th scope="col">algorithm</th>
              <th scope="col">targets</th>
              <th scope="col">health check</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((u) => (
              <tr key={u.id}>
                <td>
                  <Link to={`/upstreams/${encodeURIComponent(String(u.name))}`}>{String(u.name)}</Link>
                </td>
                <td>{String(u.algorithm)}</td>
                <td>{(u.targets as unknown[]).length}</td>
                <td>{(u.healthCheck as { active?: { type?: string } } | undefined)?.active ? `active ${(u.healthCheck as { active: { type?: string } }).active.type ?? 'http'}` : 'none'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** 'ejected' is an unhealthy target that passive checks took out for a while (ejectedUntil). */
const shownState = (t: TargetHealth) => (t.state === 'unhealthy' && t.ejectedUntil ? 'ejected' : t.state);

function lastCheckText(c: TargetHealth['lastCheck']): string {
  if (!c) return 'not checked yet';
  return `${c.ok ? 'passed' : 'failed'}${c.detail ? ` (${c.detail})` : ''} at ${when(c.at)}`;
}

function Targets({ upstream }: { upstream: Item }) {
  const { canEdit } = useSession();
  const queryClient = useQueryClient();
  const name = String(upstream.name);
  const health = useQuery({ queryKey: ['health', name], queryFn: () => get<TargetHealth[]>(`/upstreams/${encodeURIComponent(name)}/health`), refetchInterval: 1000, staleTime: 0 });
  const [weights, setWeights] = useState<Record<string, string>>({});
  const [note, setNote] = useState<{ tone: 'ok' | 'error'; text: string } | null>(null);

  const act = async (what: string, call: () => Promise<unknown>) => {
    setNote(null);
    try {
      await call();
      setNote({ tone: 'ok', text: what });
      await queryClient.invalidateQueries({ queryKey: ['health', name] });
      await queryClient.invalidateQueries({ queryKey: ['upstreams'] });
    } catch (err) {
      setNote({ tone: 'error', text: errorText(err) });
    }
  };
  const drain = (url: string, draining: boolean) =>
    act(draining ? `Draining ${url}: no new requests; in-flight ones finish.` : `${url} takes requests again.`, () =>
      api('POST', `/upstreams/${encodeURIComponent(name)}/targets/drain`, { body: { url, draining } }),
    );
  const setWeight = (url: string) => {
    const weight = Number(weights[url]);
    if (!Number.isInteger(weight) || weight < 0 || weight > 10000) {
      setNote({ tone: 'error', text: `Weight of ${url} must be a whole number from 0 to 10000.` });
      return;
    }
    void act(`Weight of ${url} set to ${weight}.`, () => api('POST', `/upstreams/${encodeURIComponent(name)}/targets/weight`, { body: { url, weight } }));
  };

  if (health.isPending) return <Loading what="target health" />;
  if (health.isError) return <ErrorNote error={health.error} />;
  return (
    <section aria-labelledby="targets-h">
      <h2 id="targets-h">Targets (as this node sees them, live)</h2>
      <div className="table-scroll">
        <table className="data" aria-label="Targets">
          <thead>
            <tr>
              <th scope="col">target</th>
              <th scope="col">state</th>
              <th scope="col">in flight</th>
              <th scope="col">latency</th>
              <th scope="col">last check</th>
              <th scope="col">ejections</th>
              <th scope="col">weight</th>
              {canEdit && <th scope="col">actions</th>}
            </tr>
          </thead>
          <tbody>
            {health.data.map((t) => (
              <tr key={t.url} data-testid={`target-${t.url}`}>
                <td>
                  <code>{t.url}</code>
                  {t.backup && <span className="muted"> backup</span>}
                </td>
                <td className="state">
                  <StateBadge state={shownState(t)} />
                </td>
                <td>{t.inFlight}</td>
                <td>{t.latencyMs} ms</td>
                <td>{lastCheckText(t.lastCheck)}</td>
                <td>{t.ejections}</td>
                <td>
                  {t.weight}
                  {t.effectiveWeight !== t.weight && <span className="muted"> (now {t.effectiveWeight})</span>}
                </td>
                {canEdit && (
                  <td className="row-actions">
                    {t.state === 'draining' ? (
                      <button type="button" onClick={() => void drain(t.url, false)}>
                        Undrain
                      </button>
                    ) : (
                      <button type="button" onClick={() => void drain(t.url, true)}>
                        Drain
                      </button>
                    )}
                    <label className="inline">
                      <span className="visually-hidden">New weight of {t.url}</span>
                      <input type="number" min={0} max={10000} step={1} value={weights[t.url] ?? String(t.weight)} onChange={(e) => setWeights({ ...weights, [t.url]: e.target.value })} />
                    </label>
                    <button type="button" onClick={() => setWeight(t.url)}>
                      Set weight
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {note && (
        <p className={`message ${note.tone}`} role={note.tone === 'error' ? 'alert' : 'status'}>
          {note.text}
        </p>
      )}
    </section>
  );
}

export function UpstreamPage() {
  return <ItemPage kind="upstreams" render={(loaded) => <UpstreamDetail {...loaded} />} />;
}

function UpstreamDetail({ item: upstream, etag, refetch }: LoadedItem) {
  const { canEdit } = useSession();
  const [editing, setEditing] = useState(false);
  return (
    <>
      <div className="page-head">
        <h1>
          Upstream <code>{String(upstream.name)}</code>
        </h1>
        <span className="muted">
          {String(upstream.algorithm)} · version {upstream.version}
        </span>
        <button type="button" onClick={() => setEditing(!editing)} aria-expanded={editing}>
          {editing ? 'Close editor' : canEdit ? 'Edit' : 'View definition'}
        </button>
      </div>
      <Targets upstream={upstream} />
      {/* Keyed by id only: a drain or weight change elsewhere must not wipe edits in progress; it makes Save answer 412 with the difference instead. */}
      {editing && <ItemEditor key={upstream.id} kind="upstreams" item={upstream} etag={etag} onSaved={refetch} />}
    </>
  );
}
