import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { cidrError } from './cidr.js';
import { Certificate } from './certificate.js';
import { GatewayConfig, type ConfigKind } from './config.js';
import { Consumer } from './consumer.js';
import { Route } from './route.js';
import { Stream } from './stream.js';
import { Upstream } from './upstream.js';
import { User } from './user.js';

/** One bad field, as it appears in a problem+json `errors` array. */
export interface FieldError {
  path: string;
  message: string;
}

export class ValidationError extends Error {
  constructor(
    readonly errors: FieldError[],
    message = `invalid configuration: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`,
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

/**
 * One ajv for every spec schema: allErrors so that every bad field is named at once,
 * useDefaults so that a validated item is also a complete one.
 */
export function createSpecAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, coerceTypes: false, verbose: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

const SCHEMAS = { config: GatewayConfig, upstream: Upstream, route: Route, consumer: Consumer, certificate: Certificate, stream: Stream, user: User };
export type SpecKind = keyof typeof SCHEMAS;

/**
 * Validators are compiled on first use, not at import: with allErrors and verbose they are
 * tens of megabytes of generated code, and a gateway node that never validates a document
 * (no admin writes, no import) should not carry them — a larger heap makes every garbage
 * collection of the proxy's per-request objects slower.
 */
let ajv: Ajv | undefined;
const validators: Partial<Record<SpecKind, ValidateFunction>> = {};
function validatorFor(kind: SpecKind): ValidateFunction {
  let validate = validators[kind];
  if (!validate) {
    ajv ??= createSpecAjv();
    validate = validators[kind] = ajv.compile(SCHEMAS[kind]);
  }
  return validate;
}

export function toFieldErrors(errors: ErrorObject[] | null | undefined, base = ''): FieldError[] {
  const out: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    let path = base + e.instancePath;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') path += `/${(e.params as { missingProperty: string }).missingProperty}`;
    if (e.keyword === 'additionalProperties') {
      path += `/${(e.params as { additionalProperty: string }).additionalProperty}`;
      message = 'is not a known field';
    }
    if (e.keyword === 'required') message = 'is required';
    // A union of literals reports one error per branch and one for the union: keep the union's,
    // naming the allowed values.
    if (e.keyword === 'const' && /\/anyOf\/\d+\/const$/.test(e.schemaPath)) continue;
    if (e.keyword === 'anyOf') {
      const allowed = allowedLiterals(e);
      message = allowed ? `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` : 'does not match any allowed form';
    }
    const key = `${path}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: path || '/', message });
  }
  return out;
}

function allowedLiterals(e: ErrorObject): unknown[] | undefined {
  const schema = (e.parentSchema ?? {}) as { anyOf?: Array<{ const?: unknown }>; const?: unknown };
  if (schema.anyOf?.every((s) => 'const' in s)) return schema.anyOf.map((s) => s.const);
  return undefined;
}

/** Validate one item of a kind in place (defaults applied); throws ValidationError naming every bad field. */
export function validateItem<T>(kind: SpecKind, item: unknown, base = ''): T {
  const validate = validatorFor(kind);
  if (!validate(item)) throw new ValidationError(toFieldErrors(validate.errors, base));
  return item as T;
}

/** CIDR lists (trusted proxies, IP restrictions) in the one strict grammar of spec/cidr.ts: a bad entry would widen trust. */
function cidrErrors(entries: readonly string[] | undefined, path: string, errors: FieldError[]): void {
  entries?.forEach((entry, j) => {
    const why = cidrError(entry);
    if (why) errors.push({ path: `${path}/${j}`, message: why });
  });
}

/** Checks that JSON Schema alone cannot express: uniqueness, references between items, CIDR lists. */
export function crossReferenceErrors(config: GatewayConfig): FieldError[] {
  const errors: FieldError[] = [];
  const unique = (kind: ConfigKind) => {
    const names = new Map<string, number>();
    (config[kind] ?? []).forEach((item: { name: string }, i: number) => {
      const first = names.get(item.name);
      if (first !== undefined) errors.push({ path: `/${kind}/${i}/name`, message: `duplicates the name "${item.name}" of /${kind}/${first}` });
      else names.set(item.name, i);
    });
    return names;
  };
  const upstreams = unique('upstreams');
  const routes = unique('routes');
  unique('consumers');
  const certificates = unique('certificates');
  unique('streams');

  config.upstreams.forEach((u, i) => {
    const urls = new Set<string>();
    u.targets.forEach((t, j) => {
      const url = t.url.replace(/\/$/, '');
      if (urls.has(url)) errors.push({ path: `/upstreams/${i}/targets/${j}/url`, message: `duplicates target ${url}` });
      urls.add(url);
    });
    if ((u.hashOn?.source === 'header' || u.hashOn?.source === 'cookie' || u.hashOn?.source === 'query') && !u.hashOn.name)
      errors.push({ path: `/upstreams/${i}/hashOn/name`, message: `is required when source is "${u.hashOn.source}"` });
    if (u.targets.every((t) => t.weight === 0)) errors.push({ path: `/upstreams/${i}/targets`, message: 'needs at least one target with weight > 0' });
    // Requests wait only while every eligible target is at its cap: one target without a cap
    // means the queue would never hold anything, which is surely not what was meant.
    if (u.queue !== undefined) {
      const uncapped = u.targets.findIndex((t) => t.maxConnections === undefined);
      if (uncapped !== -1)
        errors.push({ path: `/upstreams/${i}/targets/${uncapped}/maxConnections`, message: 'is required on every target when the upstream has a queue (requests wait only while every target is at its cap)' });
    }
    cidrErrors(u.trustedProxies, `/upstreams/${i}/trustedProxies`, errors);
    if (u.tls?.clientCertificate !== undefined && !certificates.has(u.tls.clientCertificate))
      errors.push({ path: `/upstreams/${i}/tls/clientCertificate`, message: `names unknown certificate "${u.tls.clientCertificate}"` });
    // h2 is negotiated by TLS ALPN; h2c is HTTP/2 in the clear (RFC 9113 §3.3): the scheme must agree.
    const scheme = u.protocol === 'h2' ? 'https:' : u.protocol === 'h2c' ? 'http:' : undefined;
    if (scheme !== undefined)
      u.targets.forEach((t, j) => {
        if (!t.url.startsWith(scheme)) errors.push({ path: `/upstreams/${i}/targets/${j}/url`, message: `must be an ${scheme.slice(0, -1)}:// URL for protocol "${u.protocol}"` });
      });
  });

  const routeKeys = new Map<string, string>();
  config.routes.forEach((r, i) => {
    cidrErrors(r.ipRestriction?.allow, `/routes/${i}/ipRestriction/allow`, errors);
    cidrErrors(r.ipRestriction?.deny, `/routes/${i}/ipRestriction/deny`, errors);
    if (!upstreams.has(r.upstream)) errors.push({ path: `/routes/${i}/upstream`, message: `names unknown upstream "${r.upstream}"` });
    r.fallbacks?.forEach((f, j) => {
      const name = typeof f === 'string' ? f : f.upstream;
      if (!upstreams.has(name)) errors.push({ path: `/routes/${i}/fallbacks/${j}`, message: `names unknown upstream "${name}"` });
      else if (name === r.upstream) errors.push({ path: `/routes/${i}/fallbacks/${j}`, message: `is the route's own upstream "${name}"` });
    });
    r.paths.forEach((p, j) => {
      // `/media/*.png`: a wildcard with a file extension (route-select.ts matches the extension).
      const wild = p.replace(/\/\*\.[A-Za-z0-9._-]+$/, '/*');
      if (/\*./.test(wild) || (wild.includes('*') && !wild.endsWith('/*') && wild !== '*'))
        errors.push({ path: `/routes/${i}/paths/${j}`, message: 'may only end in "/*" (or "/*.ext") as a wildcard' });
      // Routes with a match share their path with others; at most one route per path may match on the path alone.
      if (r.enabled === false || r.match !== undefined) return;
      for (const m of r.methods) {
        for (const h of r.hosts ?? ['']) {
          const key = `${m} ${h} ${p.replace(/:[^/]+/g, ':')}`;
          const other = routeKeys.get(key);
          if (other && other !== r.name)
            errors.push({ path: `/routes/${i}/paths/${j}`, message: `${m} ${p} is already served by route "${other}"` });
          else routeKeys.set(key, r.name);
        }
      }
    });
  });

  config.consumers.forEach((c, i) => {
    c.routes?.forEach((name, j) => {
      if (!routes.has(name)) errors.push({ path: `/consumers/${i}/routes/${j}`, message: `names unknown route "${name}"` });
    });
    c.jwt?.forEach((cred, j) => {
      const keys = [cred.secret, cred.publicKey, cred.jwksUrl].filter(Boolean).length;
      if (keys !== 1)
        errors.push({ path: `/consumers/${i}/jwt/${j}`, message: 'needs exactly one of secret, publicKey or jwksUrl' });
      else if (cred.secret && cred.algorithm && !cred.algorithm.startsWith('HS'))
        errors.push({ path: `/consumers/${i}/jwt/${j}/algorithm`, message: 'must be HS256, HS384 or HS512 with a secret' });
      else if (cred.publicKey && (!cred.algorithm || cred.algorithm.startsWith('HS')))
        errors.push({ path: `/consumers/${i}/jwt/${j}/algorithm`, message: 'must be an asymmetric algorithm (RS/PS/ES/EdDSA) with a publicKey' });
    });
  });
  const ports = new Map<string, string>();
  (config.streams ?? []).forEach((st, i) => {
    if (!upstreams.has(st.upstream)) errors.push({ path: `/streams/${i}/upstream`, message: `names unknown upstream "${st.upstream}"` });
    const bind = `${st.host ?? ''}:${st.port}`;
    const other = ports.get(bind);
    if (other) errors.push({ path: `/streams/${i}/port`, message: `port ${st.port} is already taken by stream "${other}"` });
    else ports.set(bind, st.name);
  });

  const snis = new Map<string, string>();
  (config.certificates ?? []).forEach((cert, i) => {
    cert.snis.forEach((sni, j) => {
      const name = sni.toLowerCase();
      const other = snis.get(name);
      if (other && other !== cert.name) errors.push({ path: `/certificates/${i}/snis/${j}`, message: `"${sni}" is already claimed by certificate "${other}"` });
      else snis.set(name, cert.name);
    });
  });
  return errors;
}

/** Validate a whole configuration (defaults applied in place). Throws ValidationError naming every bad field. */
export function validateConfig(input: unknown): GatewayConfig {
  const validate = validatorFor('config');
  if (!validate(input)) {
    const errors = toFieldErrors(validate.errors);
    // Name broken references too, where the structure is sound enough to look.
    try {
      errors.push(...crossReferenceErrors(input as GatewayConfig));
    } catch {
      // too malformed to check references
    }
    throw new ValidationError(errors);
  }
  const config = input as GatewayConfig;
  const errors = crossReferenceErrors(config);
  if (errors.length) throw new ValidationError(errors);
  return config;
}
