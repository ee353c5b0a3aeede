import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api, errorText } from '../api';
import { ErrorNote, Loading, when } from '../components/Bits';
import { ItemEditor } from '../components/ItemEditor';
import { useList, type Item } from '../items';
import { useSession } from '../session';

const ROLES = ['admin', 'editor', 'viewer'];

function UserRow({ user, onNote }: { user: Item; onNote(tone: 'ok' | 'error', text: string): void }) {
  const { me } = useSession();
  const queryClient = useQueryClient();
  const [role, setRole] = useState(String(user.role));
  const [confirm, setConfirm] = useState(false);
  const email = String(user.email);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['users'] });
  const saveRole = async () => {
    try {
      await api('PUT', `/users/${encodeURIComponent(user.id)}`, { body: { email, role }, ifMatch: `"${user.version}"` });
      onNote('ok', `${email} is now ${role}.`);
      await refresh();
    } catch (err) {
      onNote('error', errorText(err));
      setRole(String(user.role));
    }
  };
  const remove = async () => {
    setConfirm(false);
    try {
      await api('DELETE', `/users/${encodeURIComponent(user.id)}`, { ifMatch: `"${user.version}"` });
      onNote('ok', `${email} was removed.`);
      await refresh();
    } catch (err) {
      onNote('error', errorText(err));
    }
  };
  return (
    <tr>
      <td>
        {email}
        {me?.id === user.id && <span className="muted"> (you)</span>}
      </td>
      <td>
        <label className="inline">
          <span className="visually-hidden">Role of {email}</span>
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        {role !== user.role && (
          <button type="button" onClick={() => void saveRole()}>
            Save role
          </button>
        )}
      </td>
      <td>{when(user.updatedAt as string)}</td>
      <td className="row-actions">
        {confirm ? (
          <>
            <span>Remove {email}?</span>
            <button type="button" className="danger" onClick={() => void remove()}>
              Yes, remove
            </button>
            <button type="button" onClick={() => setConfirm(false)}>
              Cancel
            </button>
          </>
        ) : (
          <button type="button" className="danger" onClick={() => setConfirm(true)}>
            Remove
          </button>
        )}
      </td>
    </tr>
  );
}

export function Users() {
  const list = useList('users');
  const [creating, setCreating] = useState(false);
  const [note, setNote] = useState<{ tone: 'ok' | 'error'; text: string } | null>(null);
  return (
    <>
      <div className="page-head">
        <h1>Users</h1>
        <button type="button" className="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
          {creating ? 'Close' : 'New user'}
        </button>
      </div>
      <p className="muted">Admins manage users; editors change configuration; viewers look. The last admin cannot be removed or demoted.</p>
      {creating && (
        <ItemEditor
          kind="users"
          onSaved={(saved) => {
            setCreating(false);
            setNote({ tone: 'ok', text: `Created ${String(saved.email)}.` });
          }}
          onCancel={() => setCreating(false)}
        />
      )}
      {note && (
        <p className={`message ${note.tone}`} role={note.tone === 'error' ? 'alert' : 'status'}>
          {note.text}
        </p>
      )}
      {list.isPending ? (
        <Loading what="users" />
      ) : list.isError ? (
        <ErrorNote error={list.error} />
      ) : (
        <div className="table-scroll">
          <table className="data" aria-label="Users">
            <thead>
              <tr>
                <th scope="col">email</th>
                <th scope="col">role</th>
                <th scope="col">changed</th>
                <th scope="col">actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((u) => (
                <UserRow key={`${u.id}-${u.version}`} user={u} onNote={(tone, text) => setNote({ tone, text })} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
