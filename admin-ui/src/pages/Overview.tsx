import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { Link } from 'react-router';
import { get } from '../api';
import { Chart, type Series } from '../components/Chart';
import { ErrorNote, Loading, when } from '../components/Bits';

interface Point {
  t: number;
  requestsPerSecond: number;
  errorRate: number;
  p50: number | null;
  p99: number | null;
}
interface OverviewData {
  now: string;
  bucketSeconds: number;
  windowMinutes: number;
  node: { revision: number; since: string | null; lastError: { revision: number; message: string; at: string } | null };
  pools: Array<{ name: string; healthy: number; draining: number; total: number }>;
  routes: Array<{ route: string; requests: number; errors: number; p50: number | null; p99: number | null; points: Point[] }>;
}

/** Colour-blind-safe (Okabe–Ito), dark enough on white. */
const COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000'];

export function Overview() {
  // Polled every second: one small JSON answer; refreshes stop while the tab is hidden.
  const overview = useQuery({ queryKey: ['overview'], queryFn: () => get<OverviewData>('/overview'), refetchInterval: 1000, staleTime: 0 });
  const data = overview.data;
  const charts = useMemo(() => {
    if (!data || data.routes.length === 0) return null;
    const times = data.routes[0]!.points.map((p) => p.t);
    const line = (pick: (p: Point) => number | null, suffix = '', points = false) =>
      data.routes.map((r, i): Series => ({ label: `${r.route}${suffix}`, values: r.points.map(pick), color: COLORS[i % COLORS.length]!, points }));
    return {
      times,
      rps: line((p) => p.requestsPerSecond),
      errors: line((p) => (p.requestsPerSecond ? p.errorRate * 100 : null), '', true),
      latency: [...line((p) => p.p50, ' p50', true), ...line((p) => p.p99, ' p99', true).map((s, i) => ({ ...s, color: COLORS[(i + 3) % COLORS.length]! }))],
    };
  }, [data]);

  if (overview.isPending) return <Loading what="the overview" />;
  if (overview.isError) return <ErrorNote error={overview.error} />;
  const d = data!;
  return (
    <>
      <h1>Overview</h1>
      <div className="cards">
        <section className="card" aria-labelledby="rev-h">
          <h2 id="rev-h">Configuration</h2>
          <p>
            Revision <strong data-testid="revision">{d.node.revision}</strong> in force on this node since {when(d.node.since)}.
          </p>
          {d.node.lastError ? (
            <p className="message error" role="alert">
              Revision {d.node.lastError.revision} failed to compile at {when(d.node.lastError.at)}: {d.node.lastError.message}. The previous revision keeps serving.
            </p>
          ) : (
            <p className="muted">No configuration error.</p>
          )}
        </section>
        <section className="card" aria-labelledby="pools-h">
          <h2 id="pools-h">Upstream pools</h2>
          {d.pools.length === 0 ? (
            <p className="muted">No upstream in force.</p>
          ) : (
            <ul className="pools">
              {d.pools.map((p) => (
                <li key={p.name} data-testid={`pool-${p.name}`}>
                  <Link to={`/upstreams/${encodeURIComponent(p.name)}`}>{p.name}</Link>{' '}
                  <span className={p.healthy === p.total ? 'badge state-healthy' : p.healthy === 0 ? 'badge state-unhealthy' : 'badge state-draining'}>
                    {p.healthy}/{p.total} healthy
                  </span>
                  {p.draining > 0 && <span className="muted"> ({p.draining} draining)</span>}
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <h2>Traffic, last {d.windowMinutes} minutes</h2>
      {d.routes.length === 0 ? (
        <p className="muted">No requests in the last {d.windowMinutes} minutes.</p>
      ) : (
        <>
          <table className="data" aria-label="Traffic per route">
            <thead>
              <tr>
                <th scope="col">route</th>
                <th scope="col">requests</th>
                <th scope="col">5xx</th>
                <th scope="col">p50</th>
                <th scope="col">p99</th>
              </tr>
            </thead>
            <tbody>
              {d.routes.map((r) => (
                <tr key={r.route} data-testid={`traffic-${r.route}`}>
                  <td>{r.route}</td>
                  <td className="requests">{r.requests}</td>
                  <td>{r.errors}</td>
                  <td>{r.p50 === null ? '—' : `${r.p50} ms`}</td>
                  <td>{r.p99 === null ? '—' : `${r.p99} ms`}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {charts && (
            <div className="charts">
              <Chart title="Requests per second" times={charts.times} series={charts.rps} unit="" />
              <Chart title="Error rate (5xx)" times={charts.times} series={charts.errors} unit="%" />
              <Chart title="Latency p50 / p99" times={charts.times} series={charts.latency} unit=" ms" />
            </div>
          )}
        </>
      )}
    </>
  );
}
