/**
 * The admin API as the console uses it: JSON in and out, the bearer token on every call, ETags
 * surfaced for If-Match, and problem+json turned into ApiError (status, detail, field errors).
 * A 401 on any call ends the session (expired, revoked, or the user deleted): the session
 * listens through onUnauthorized and shows the signed-out screen.
 */

export interface FieldError {
  path: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `request failed with ${problem.status}`);
  }
  get status(): number {
    return this.problem.status;
  }
}

export interface Answer<T> {
  data: T;
  etag: string | null;
}

const TOKEN_KEY = 'switchboard.session';

interface StoredSession {
  token: string;
  expiresAt: number;
}

let session: StoredSession | null = readStored();
let unauthorized: (reason: string) => void = () => {};

function readStored(): StoredSession | null {
  try {
    const raw = sessionStorage.getItem(TOKEN_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as StoredSession;
    return parsed.expiresAt > Date.now() ? parsed : null;
  } catch {
    return null;
  }
}

/** Kept in sessionStorage (this tab only, gone when it closes), never localStorage. */
export function setSession(token: string, expiresInSeconds: number): void {
  session = { token, expiresAt: Date.now() + expiresInSeconds * 1000 };
  sessionStorage.setItem(TOKEN_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

export function hasSession(): boolean {
  return session !== null && session.expiresAt > Date.now();
}

export function sessionExpiresAt(): number | null {
  return session?.expiresAt ?? null;
}

export function onUnauthorized(handler: (reason: string) => void): void {
  unauthorized = handler;
}

export async function api<T = unknown>(method: string, path: string, options: { body?: unknown; ifMatch?: string | null; signIn?: boolean } = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (session && !options.signIn) headers.authorization = `Bearer ${session.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.ifMatch) headers['if-match'] = options.ifMatch;
  let response: Response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  } catch {
    throw new ApiError({ status: 0, title: 'network', detail: 'the admin API did not answer; is the gateway running?' });
  }
  const text = await response.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const problem: Problem = typeof data === 'object' && data !== null ? { ...(data as Problem), status: response.status } : { status: response.status, detail: String(data ?? response.statusText) };
    if (response.status === 401 && !options.signIn) {
      clearSession();
      unauthorized(problem.detail ?? 'your session ended');
    }
    throw new ApiError(problem);
  }
  return { data: data as T, etag: response.headers.get('etag') };
}

/** The body of a successful call, for TanStack Query's queryFn. */
export const get = async <T>(path: string): Promise<T> => (await api<T>('GET', path)).data;

export const errorText = (err: unknown): string => (err instanceof ApiError ? err.message : err instanceof Error ? err.message : String(err));
