import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { get } from '../api';
import { ErrorNote, Loading, when } from '../components/Bits';
import { ItemEditor } from '../components/ItemEditor';
import { ItemPage } from '../components/ItemPage';
import { useList } from '../items';
import { useSession } from '../session';

/** GET /certificates/{id}/status: how this node's TLS listener holds the certificate. */
interface CertificateStatus {
  name: string;
  served: boolean;
  notAfter?: string;
  reason?: string;
}

function useStatus(name: string) {
  // A certificate not in force yet (just saved) answers 404: shown as "not in force", not an error.
  return useQuery({ queryKey: ['certificates', 'status', name], queryFn: () => get<CertificateStatus>(`/certificates/${encodeURIComponent(name)}/status`), retry: false });
}

/** "served until …", or why the listener skipped it, in words. */
function StatusText({ name }: { name: string }) {
  const status = useStatus(name);
  if (status.isPending) return <span className="muted">…</span>;
  if (status.isError) return <span className="muted">not in force on this node</span>;
  const s = status.data;
  if (s.served) return <span>served until {when(s.notAfter)}</span>;
  return <strong className="field-error">not served: {s.reason}</strong>;
}

export function CertificateList() {
  const { canEdit } = useSession();
  const list = useList('certificates');
  const certificates = list.data ?? [];
  return (
    <>
      <div className="page-head">
        <h1>Certificates</h1>
        {canEdit && (
          <Link className="button primary" to="/certificates/new">
            New certificate
          </Link>
        )}
      </div>
      <p className="muted">What the TLS listener presents, by SNI. Status is as the node that answers sees it.</p>
      {list.isPending ? (
        <Loading what="certificates" />
      ) : list.isError ? (
        <ErrorNote error={list.error} />
      ) : (
        <div className="table-scroll">
          <table className="data" aria-label="Certificates">
            <thead>
              <tr>
                <th scope="col">name</th>
                <th scope="col">server names</th>
                <th scope="col">key</th>
                <th scope="col">on this node</th>
              </tr>
            </thead>
            <tbody>
              {certificates.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Link to={`/certificates/${encodeURIComponent(String(c.name))}`}>{String(c.name)}</Link>
                  </td>
                  <td>{(c.snis as string[]).join(', ')}</td>
                  <td>{c.hasKey ? 'stored' : 'none'}</td>
                  <td>
                    <StatusText name={String(c.name)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted" role="status">
            {certificates.length} certificates
          </p>
        </div>
      )}
    </>
  );
}

export function CertificatePage() {
  return (
    <ItemPage
      kind="certificates"
      render={({ item: certificate, etag }) => (
        <>
          <div className="page-head">
            <h1>
              Certificate <code>{String(certificate.name)}</code>
            </h1>
            <span className="muted">version {certificate.version}</span>
          </div>
          <p>
            On this node: <StatusText name={String(certificate.name)} />. Private key: {certificate.hasKey ? 'stored (never shown)' : 'none'}.
          </p>
          <ItemEditor key={certificate.id} kind="certificates" item={certificate} etag={etag} onSaved={() => {}} />
        </>
      )}
    />
  );
}
