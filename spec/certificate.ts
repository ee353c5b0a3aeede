import { Type, type Static } from '@sinclair/typebox';
import { Name, StoredFields } from './common.js';

/**
 * A TLS certificate the TLS listener serves to clients whose SNI matches one of `snis`
 * (exact names, or `*.example.com` for one label). The private key is write-only: the admin
 * API, the export and the logs never show it; an import or PUT without it keeps the stored one.
 */
export const Certificate = Type.Object(
  {
    ...StoredFields,
    name: Name,
    snis: Type.Array(Type.String({ minLength: 1, maxLength: 253, description: 'Server name, or *.domain for one label.' }), {
      minItems: 1,
      uniqueItems: true,
      description: 'Server names (SNI) this certificate answers for; wildcards cover one label.',
    }),
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain, leaf first.' }),
    key: Type.Optional(Type.String({ minLength: 1, writeOnly: true, description: 'PEM private key (write-only: never returned).' })),
  },
  { additionalProperties: false },
);
export type Certificate = Static<typeof Certificate>;
