import type { RJSFSchema, UiSchema } from '@rjsf/utils';
import { Certificate } from '../../spec/certificate.ts';
import { Consumer } from '../../spec/consumer.ts';
import { Route } from '../../spec/route.ts';
import { Upstream } from '../../spec/upstream.ts';
import { User } from '../../spec/user.ts';

/**
 * The forms' schemas are the spec/ TypeBox schemas the server validates with, imported into the
 * build: one source of truth. A JSON round trip drops TypeBox's symbol keys, leaving plain
 * JSON Schema for rjsf and ajv.
 */
export type Kind = 'upstreams' | 'routes' | 'consumers' | 'users' | 'certificates';

/**
 * TypeBox writes a choice of literals as `anyOf: [{const}, …]` without a `type`, which rjsf
 * cannot draw; `{type, enum}` is the same constraint in the form rjsf draws as a select.
 */
function literalUnionsAsEnums(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(literalUnionsAsEnums);
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = literalUnionsAsEnums(value);
  const branches = out.anyOf as Array<{ const?: unknown; type?: string }> | undefined;
  if (Array.isArray(branches) && branches.length > 0 && branches.every((b) => 'const' in b && b.type === branches[0]!.type)) {
    delete out.anyOf;
    out.type = branches[0]!.type;
    out.enum = branches.map((b) => b.const);
  }
  return out;
}

const plain = (schema: unknown) => literalUnionsAsEnums(JSON.parse(JSON.stringify(schema))) as RJSFSchema;

export const SCHEMAS: Record<Kind, RJSFSchema> = {
  upstreams: plain(Upstream),
  routes: plain(Route),
  consumers: plain(Consumer),
  users: plain(User),
  certificates: plain(Certificate),
};

export const SINGULAR: Record<Kind, string> = { upstreams: 'upstream', routes: 'route', consumers: 'consumer', users: 'user', certificates: 'certificate' };

/** Kinds whose save the server can dry-run (`POST /{kind}/validate`). */
export const DRY_RUN: ReadonlySet<Kind> = new Set(['upstreams', 'routes']);

export const STORED_FIELDS = ['id', 'version', 'createdAt', 'updatedAt'] as const;

/** Fields the API adds to its view of an item that are not the item's own (`hasKey` of a certificate): never sent back. */
const VIEW_FIELDS: Partial<Record<Kind, readonly string[]>> = { certificates: ['hasKey'] };

/** An item as the editor holds it: without the API's view-only fields. */
export function editable(kind: Kind, item: Record<string, unknown>): Record<string, unknown> {
  const out = { ...item };
  for (const f of VIEW_FIELDS[kind] ?? []) delete out[f];
  return out;
}

const hidden = { 'ui:widget': 'hidden' };
const storedHidden = Object.fromEntries(STORED_FIELDS.map((f) => [f, hidden]));

const base: UiSchema = {
  ...storedHidden,
  'ui:submitButtonOptions': { norender: true },
  // Optional sections (health checks, sticky, hashOn…) stay absent until the user adds them,
  // rather than being filled with defaults that would switch features on.
  'ui:globalOptions': { enableOptionalDataFieldForType: ['object'], optionValueFormat: 'realValue', orderable: false, copyable: false },
};

export const UI_SCHEMAS: Record<Kind, UiSchema> = {
  upstreams: { ...base, 'ui:order': ['name', 'algorithm', 'targets', 'hashOn', 'healthCheck', '*'] },
  routes: { ...base, 'ui:order': ['name', 'enabled', 'paths', 'methods', 'upstream', 'auth', '*'] },
  // JWT secrets are write-only: typed in, never shown back (the API never returns them).
  consumers: { ...base, jwt: { items: { secret: { 'ui:widget': 'password', 'ui:help': 'Write-only: leave empty to keep the stored secret.' } } } },
  users: { ...base, password: { 'ui:widget': 'password', 'ui:help': 'Write-only: leave empty to keep the current password.' } },
  // A PEM key has line breaks, which a password input drops: a text area, never filled from the server.
  certificates: {
    ...base,
    'ui:order': ['name', 'snis', 'cert', 'key', '*'],
    cert: { 'ui:widget': 'textarea', 'ui:options': { rows: 8 } },
    key: { 'ui:widget': 'textarea', 'ui:options': { rows: 6 }, 'ui:help': 'Write-only: leave empty to keep the stored key.' },
  },
};

/** An item without the store's own fields, as sent to create or shown to compare. */
export function content(item: Record<string, unknown>): Record<string, unknown> {
  const out = { ...item };
  for (const f of STORED_FIELDS) delete out[f];
  return out;
}
