import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Certificate } from '../../../spec/certificate.js';
import { ProblemError } from '../errors.js';
import type { ConfigState } from '../store/port.js';

export interface CertificateFault {
  field: 'cert' | 'key';
  message: string;
}

/**
 * What is wrong with one certificate/key pair for a TLS listener, or undefined when it can be
 * served: both parse as PEM, the key is the certificate's (X509Certificate#checkPrivateKey), the
 * leaf is valid now, and OpenSSL takes the pair into a secure context (an encrypted key, say,
 * would parse here and fail there). Messages never quote the key.
 */
export function certificateFault(cert: string, key: string | undefined, now = Date.now()): CertificateFault | undefined {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    return { field: 'cert', message: 'is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)' };
  }
  if (key === undefined) return { field: 'key', message: 'is required: a certificate is served with its private key' };
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    return { field: 'key', message: 'is not a PEM private key (or it is encrypted; store it unencrypted)' };
  }
  if (!leaf.checkPrivateKey(privateKey)) return { field: 'key', message: `does not belong to the certificate (subject "${leaf.subject.replace(/\n/g, ', ')}")` };
  const notAfter = Date.parse(leaf.validTo);
  if (notAfter <= now) return { field: 'cert', message: `expired on ${new Date(notAfter).toISOString()}` };
  const notBefore = Date.parse(leaf.validFrom);
  if (notBefore > now) return { field: 'cert', message: `is not valid before ${new Date(notBefore).toISOString()}` };
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    return { field: 'cert', message: `is refused by OpenSSL: ${(err as Error).message}` };
  }
  return undefined;
}

/**
 * Refuse (400, naming the field) a change that stores a certificate no TLS listener could serve.
 * Only certificates the change adds or alters are judged: one that expires while stored must not
 * block every later, unrelated change (the node skips it and reports it instead, node/sni.ts).
 */
export function mustServeCertificates(next: Pick<ConfigState, 'certificates'>, previous: Pick<ConfigState, 'certificates'> | undefined): void {
  const before = new Map<string, Certificate>();
  for (const cert of previous?.certificates ?? []) before.set(cert.name, cert);
  const errors: Array<{ path: string; message: string }> = [];
  (next.certificates ?? []).forEach((cert, i) => {
    const old = before.get(cert.name);
    if (old && old.cert === cert.cert && old.key === cert.key) return;
    const fault = certificateFault(cert.cert, cert.key);
    if (fault) errors.push({ path: `/certificates/${i}/${fault.field}`, message: `${fault.field} of certificate "${cert.name}" ${fault.message}` });
  });
  if (errors.length === 0) return;
  throw new ProblemError(400, 'validation', errors.map((e) => e.message).join('; '), { errors });
}
