import { Link, useSearchParams } from 'react-router';
import { ErrorNote, Loading } from '../components/Bits';
import { ItemEditor } from '../components/ItemEditor';
import { ItemPage } from '../components/ItemPage';
import { useList } from '../items';
import { useSession } from '../session';

const AUTH = ['none', 'api-key', 'jwt', 'api-key-or-jwt', 'mtls'];

export function RouteList() {
  const { canEdit } = useSession();
  const list = useList('routes');
  // Filters live in the URL, so a filtered list can be bookmarked and survives a reload.
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const upstream = params.get('upstream') ?? '';
  const auth = params.get('auth') ?? '';
  const enabled = params.get('enabled') ?? '';
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
  const routes = list.data ?? [];
  const upstreams = [...new Set(routes.map((r) => String(r.upstream)))].sort();
  const shown = routes.filter((r) => {
    const text = `${String(r.name)} ${(r.paths as string[]).join(' ')}`.toLowerCase();
    return (
      (!q || text.includes(q.toLowerCase())) &&
      (!upstream || r.upstream === upstream) &&
      (!auth || r.auth === auth) &&
      (!enabled || String(r.enabled !== false) === enabled)
    );
  });
  return (
    <>
      <div className="page-head">
        <h1>Routes</h1>
        {canEdit && (
          <Link className="button primary" to="/routes/new">
            New route
          </Link>
        )}
      </div>
      <div className="filters" role="search">
        <label>
          Search
          <input type="search" value={q} placeholder="name or path" onChange={(e) => set('q', e.target.value)} />
        </label>
        <label>
          Upstream
          <select value={upstream} onChange={(e) => set('upstream', e.target.value)}>
            <option value="">any</option>
            {upstreams.map((u) => (
              <option key={u}>{u}</option>
            ))}
          </select>
        </label>
        <label>
          Auth
          <select value={auth} onChange={(e) => set('auth', e.target.value)}>
            <option value="">any</option>
            {AUTH.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <label>
          Enabled
          <select value={enabled} onChange={(e) => set('enabled', e.target.value)}>
            <option value="">any</option>
            <option value="true">enabled</option>
            <option value="false">disabled</option>
          </select>
        </label>
      </div>
      {list.isPending ? (
        <Loading what="routes" />
      ) : list.isError ? (
        <ErrorNote error={list.error} />
      ) : (
        <div className="table-scroll">
          <table className="data" aria-label="Routes">
            <thead>
              <tr>
                <th scope="col">name</th>
                <th scope="col">paths</th>
                <th scope="col">methods</th>
                <th scope="col">upstream</th>
                <th scope="col">auth</th>
                <th scope="col">enabled</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => (
                <tr key={r.id}>
                  <td>
                    <Link to={`/routes/${encodeURIComponent(String(r.name))}`}>{String(r.name)}</Link>
                  </td>
                  <td>{(r.paths as string[]).join(', ')}</td>
                  <td>{(r.methods as string[]).join(' ')}</td>
                  <td>
                    <Link to={`/upstreams/${encodeURIComponent(String(r.upstream))}`}>{String(r.upstream)}</Link>
                  </td>
                  <td>{String(r.auth)}</td>
                  <td>{r.enabled === false ? 'no' : 'yes'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted" role="status">
            {shown.length} of {routes.length} routes
          </p>
        </div>
      )}
    </>
  );
}

export function RoutePage() {
  return (
    <ItemPage
      kind="routes"
      render={({ item: route, etag }) => (
        <>
          <div className="page-head">
            <h1>
              Route <code>{String(route.name)}</code>
            </h1>
            <span className="muted">version {route.version}</span>
          </div>
          <ItemEditor key={route.id} kind="routes" item={route} etag={etag} onSaved={() => {}} />
        </>
      )}
    />
  );
}
