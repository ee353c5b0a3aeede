import { useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, clearSession, hasSession, onUnauthorized, sessionExpiresAt, setSession } from './api';

export type Role = 'admin' | 'editor' | 'viewer';
export interface Me {
  id: string;
  email: string;
  role: Role;
}

interface SessionValue {
  me: Me | null;
  /** Why the user is signed out, shown on the sign-in screen (expired, revoked, signed out). */
  reason: string | null;
  signIn(email: string, password: string): Promise<void>;
  signOut(reason?: string): void;
  /** Editors and admins change configuration; viewers only look. */
  canEdit: boolean;
  isAdmin: boolean;
}

const SessionContext = createContext<SessionValue | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [me, setMe] = useState<Me | null>(null);
  const [reason, setReason] = useState<string | null>(null);
  const [checking, setChecking] = useState(hasSession());

  const signOut = useCallback(
    (why?: string) => {
      clearSession();
      setMe(null);
      setReason(why ?? null);
      queryClient.clear();
    },
    [queryClient],
  );

  useEffect(() => {
    onUnauthorized((detail) => signOut(`You were signed out: ${detail}`));
  }, [signOut]);

  // A reload of the tab keeps the session (sessionStorage); ask who it belongs to.
  useEffect(() => {
    if (!checking) return;
    api<Me>('GET', '/auth/me')
      .then(({ data }) => setMe(data))
      .catch(() => {})
      .finally(() => setChecking(false));
  }, [checking]);

  // Sign out when the token's lifetime ends, even if the tab sits idle.
  useEffect(() => {
    const at = sessionExpiresAt();
    if (!me || !at) return;
    const timer = setTimeout(() => signOut('Your session expired; sign in again.'), Math.max(0, at - Date.now()));
    return () => clearTimeout(timer);
  }, [me, signOut]);

  const signIn = useCallback(async (email: string, password: string) => {
    const { data } = await api<{ token: string; expiresIn: number }>('POST', '/auth/login', { body: { email, password }, signIn: true });
    setSession(data.token, data.expiresIn);
    const who = await api<Me>('GET', '/auth/me');
    setReason(null);
    setMe(who.data);
  }, []);

  const value = useMemo<SessionValue>(
    () => ({ me, reason, signIn, signOut, canEdit: me?.role === 'admin' || me?.role === 'editor', isAdmin: me?.role === 'admin' }),
    [me, reason, signIn, signOut],
  );
  if (checking) return <p className="loading" role="status">Loading…</p>;
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
