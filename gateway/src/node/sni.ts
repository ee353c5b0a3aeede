import { createHash, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { Certificate } from '../../../spec/certificate.js';
import { certificateFault } from '../config/certificate-check.js';

/**
 * TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1). The 1.2 suites are Mozilla's
 * "intermediate" list: ECDHE key exchange (forward secrecy) with AEAD ciphers only, no CBC, no
 * RSA key exchange. TLS 1.3's suites are all AEAD and stay OpenSSL's default.
 */
export const TLS_BASE: SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
};

export interface PemPair {
  cert: string;
  key: string;
}

/** A certificate the book could not load; the node reports it and serves without it. */
export interface SkippedCertificate {
  name: string;
  reason: string;
}

/**
 * The certificates the TLS listener chooses from by SNI: the stored `certificates` collection
 * (rebuilt for every configuration generation) and a default (TLS_CERT_FILE/TLS_KEY_FILE) for a
 * client that names no server, or one no certificate claims. Lookup is exact name first, then
 * `*.parent` for one leading label (RFC 6125 §6.4.3: a wildcard covers exactly one label).
 *
 * Secure contexts are cached by the PEMs' digest, so a revision that changes a route does not
 * rebuild every context, and a changed certificate gets a new one; connections already open keep
 * the one they shook hands with. A certificate that no longer loads (expired while stored, say)
 * is skipped and named in `skipped`: a certificate never stops the listener.
 */
export class CertificateBook {
  private exact = new Map<string, SecureContext>();
  private wildcard = new Map<string, SecureContext>();
  private cache = new Map<string, { context: SecureContext; notAfter: number }>();
  skipped: SkippedCertificate[] = [];
  /** The certificates served, with when each leaf expires (ms since the epoch), for the metrics. */
  served: Array<{ name: string; notAfter: number }> = [];

  constructor(
    private readonly base: SecureContextOptions = TLS_BASE,
    /** Client-certificate settings every context carries (mTLS: the CA and requestCert). */
    private readonly extra: SecureContextOptions = {},
  ) {}

  /** Swap in the certificates of a new generation; returns those skipped. */
  update(certificates: readonly Certificate[]): SkippedCertificate[] {
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    const cache = new Map<string, { context: SecureContext; notAfter: number }>();
    const skipped: SkippedCertificate[] = [];
    const served: Array<{ name: string; notAfter: number }> = [];
    const now = Date.now();
    for (const cert of certificates) {
      const digest = createHash('sha256').update(cert.cert).update('\0').update(cert.key ?? '').digest('base64');
      let entry = this.cache.get(digest) ?? cache.get(digest);
      if (entry === undefined) {
        const fault = certificateFault(cert.cert, cert.key, now);
        if (fault) {
          skipped.push({ name: cert.name, reason: `${fault.field} ${fault.message}` });
          continue;
        }
        const context = createSecureContext({ ...this.base, ...this.extra, cert: cert.cert, key: cert.key! });
        entry = { context, notAfter: Date.parse(new X509Certificate(cert.cert).validTo) };
      } else if (entry.notAfter <= now) {
        skipped.push({ name: cert.name, reason: `cert expired on ${new Date(entry.notAfter).toISOString()}` });
        continue;
      }
      const context = entry.context;
      cache.set(digest, entry);
      served.push({ name: cert.name, notAfter: entry.notAfter });
      for (const sni of cert.snis) {
        const name = sni.toLowerCase();
        if (name.startsWith('*.')) wildcard.set(name.slice(2), context);
        else exact.set(name, context);
      }
    }
    this.exact = exact;
    this.wildcard = wildcard;
    this.cache = cache;
    this.skipped = skipped;
    this.served = served;
    return skipped;
  }

  /** The context for a ClientHello's server name; undefined = the listener's default certificate. */
  select(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase();
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    const dot = name.indexOf('.');
    return dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined;
  }

  /** tls.Server's SNICallback. */
  readonly sniCallback = (servername: string, done: (err: Error | null, context?: SecureContext) => void): void => {
    done(null, this.select(servername));
  };
}
