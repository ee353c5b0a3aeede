import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  cert: string;
  key: string;
  /** Where the PEMs were written (for TLS_CERT_FILE / openssl -CAfile); removed by `cleanup`. */
  certFile: string;
  keyFile: string;
  cleanup(): void;
}

export interface CertOptions {
  /** Subject CN; also the first subjectAltName. */
  cn: string;
  /** More DNS subjectAltNames. */
  sans?: string[];
  /** IP subjectAltNames (an upstream reached as https://127.0.0.1:port). */
  ips?: string[];
  /** 'ec' = ECDSA P-256 (default), 'rsa' = RSA 2048. */
  type?: 'ec' | 'rsa';
  /** Days of validity from now. */
  days?: number;
  /** Sign with this CA instead of self-signing (client certificates for mTLS). */
  ca?: TestCertificate;
  /** An expired certificate: valid from 10 days ago to yesterday. */
  expired?: boolean;
}

/** A real certificate made by the openssl CLI at test time (never checked in). */
export function makeCertificate(options: CertOptions): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-cert-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const keyArgs = options.type === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const sans = [...[options.cn, ...(options.sans ?? [])].map((n) => `DNS:${n}`), ...(options.ips ?? []).map((ip) => `IP:${ip}`)].join(',');
  const ext = join(dir, 'ext.cnf');
  writeFileSync(ext, `subjectAltName=${sans}\nbasicConstraints=critical,CA:${options.ca ? 'FALSE' : 'TRUE'}\n`);
  if (!options.ca && !options.expired) {
    execFileSync('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', keyFile, '-out', certFile, '-days', String(options.days ?? 30), '-subj', `/CN=${options.cn}`, '-addext', `subjectAltName=${sans}`], { stdio: 'pipe' });
  } else {
    // A CA-signed or back-dated certificate: a CSR, then `openssl x509` (or `openssl ca`, the CLI that takes explicit dates).
    const csr = join(dir, 'req.csr');
    execFileSync('openssl', ['req', ...keyArgs, '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${options.cn}`], { stdio: 'pipe' });
    const signer = options.ca ?? selfCa(dir);
    if (options.expired) expiredWithCa(dir, csr, signer, certFile, ext);
    else
      execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', signer.certFile, '-CAkey', signer.keyFile, '-CAcreateserial', '-out', certFile, '-extfile', ext, '-days', String(options.days ?? 30)], { stdio: 'pipe' });
  }
  return {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    certFile,
    keyFile,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function selfCa(dir: string): TestCertificate {
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '30', '-subj', '/CN=Switchboard Test CA'], { stdio: 'pipe' });
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile, cleanup: () => {} };
}

function stamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
}

/** `openssl ca` is the CLI that takes an explicit start and end date. */
function expiredWithCa(dir: string, csr: string, ca: TestCertificate, out: string, ext: string): void {
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  const conf = join(dir, 'ca.cnf');
  writeFileSync(
    conf,
    `[ca]\ndefault_ca=test\n[test]\ndatabase=${join(dir, 'index.txt')}\nserial=${join(dir, 'serial')}\nnew_certs_dir=${dir}\ndefault_md=sha256\npolicy=any\nunique_subject=no\n[any]\ncommonName=supplied\n`,
  );
  const day = 86_400_000;
  execFileSync(
    'openssl',
    ['ca', '-batch', '-config', conf, '-cert', ca.certFile, '-keyfile', ca.keyFile, '-in', csr, '-out', out, '-extfile', ext, '-startdate', stamp(new Date(Date.now() - 10 * day)), '-enddate', stamp(new Date(Date.now() - day)), '-notext'],
    { stdio: 'pipe' },
  );
}
