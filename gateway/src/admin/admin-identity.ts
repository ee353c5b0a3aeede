import { randomBytes } from 'node:crypto';
import type { ConfigService } from '../config/config-service.js';
import { userView } from '../config/item-views.js';
import { newId } from '../config/ids.js';
import type { StoredUser } from '../store/port.js';
import { hashPassword } from '../config/password-hash.js';

export const ADMIN_JWT_SECRET = 'adminJwtSecret';
export const DEFAULT_ADMIN_EMAIL = 'admin@switchboard.local';

export interface AdminIdentity {
  /** Signs admin tokens; shared by every node on the store so a token works on any of them. */
  jwtSecret: string;
  /** Set only when this process created the first admin with a generated password. */
  initialEmail: string | undefined;
  initialPassword: string | undefined;
}

/**
 * Make sure the store has an admin-token signing secret and at least one admin. Both are
 * created in one compare-and-swap, so when two nodes start together on an empty store exactly
 * one creates them, and the other reads what the first wrote (and prints no password).
 */
export async function prepareAdminIdentity(
  service: ConfigService,
  env: { adminEmail: string | undefined; adminPassword: string | undefined },
): Promise<AdminIdentity> {
  const email = (env.adminEmail ?? DEFAULT_ADMIN_EMAIL).toLowerCase();
  const generated = env.adminPassword === undefined;
  const password = env.adminPassword ?? randomBytes(12).toString('base64url');
  let passwordHash: string | undefined;
  let created = false;
  const jwtSecret = await service.change({ email: 'system' }, 'identity.init', false, async (state) => {
    const secret = state.secrets[ADMIN_JWT_SECRET] ?? randomBytes(48).toString('base64url');
    const needAdmin = !state.users.some((u) => u.role === 'admin');
    created = needAdmin;
    if (!needAdmin && state.secrets[ADMIN_JWT_SECRET]) return { next: undefined, audit: [], result: secret };
    const next = { ...state, secrets: { ...state.secrets, [ADMIN_JWT_SECRET]: secret } };
    const audit = [];
    if (needAdmin) {
      passwordHash ??= await hashPassword(password);
      const now = new Date().toISOString();
      const existing = state.users.find((u) => u.email === email);
      const admin: StoredUser = existing
        ? { ...existing, role: 'admin', passwordHash, version: existing.version + 1, updatedAt: now }
        : { id: newId(), email, role: 'admin', passwordHash, version: 1, createdAt: now, updatedAt: now };
      next.users = [...state.users.filter((u) => u.id !== admin.id), admin];
      audit.push({ action: 'create', kind: 'user', id: admin.id, before: existing ? userView(existing) : null, after: userView(admin) });
    }
    return { next, audit, result: secret };
  });
  return {
    jwtSecret,
    initialEmail: created ? email : undefined,
    initialPassword: created && generated ? password : undefined,
  };
}
