import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Caller, GenerationContext } from '../../gateway/src/generation/route-stage.js';

/** A verified peer certificate's two names for a consumer credential (spec/consumer.ts MtlsCredential). */
interface PeerNames {
  fingerprint256: string;
  subject: string;
}

/** Keep-alive requests on one TLS connection present one certificate: read it once. */
const namesOf = new WeakMap<object, PeerNames | null>();

/**
 * The caller of an `auth: "mtls"` route: the consumer whose `mtls` credential names the client
 * certificate the TLS listener verified against TLS_CLIENT_CA_FILE. The listener requests a
 * certificate but does not require one (other routes stay reachable without), so this is where an
 * absent or unverified certificate is turned away. Fingerprints and subjects are public, not
 * secrets — the proof is the handshake, checked by OpenSSL against the CA — so a Map lookup
 * rather than a constant-time comparison is right here.
 */
export class MtlsVerifier {
  private readonly byFingerprint = new Map<string, Caller>();
  private readonly bySubject = new Map<string, Caller>();

  constructor(ctx: GenerationContext) {
    for (const consumer of ctx.state.consumers) {
      const caller: Caller = { id: consumer.id, name: consumer.name, consumer };
      for (const credential of consumer.mtls ?? []) {
        if ('fingerprint256' in credential) this.byFingerprint.set(credential.fingerprint256.toUpperCase(), caller);
        else this.bySubject.set(credential.subject, caller);
      }
    }
  }

  verify(req: IncomingMessage): Caller | undefined {
    const names = peerNames(req.socket as TLSSocket);
    if (names === null) return undefined;
    return this.byFingerprint.get(names.fingerprint256) ?? this.bySubject.get(names.subject);
  }
}

function peerNames(socket: TLSSocket): PeerNames | null {
  const cached = namesOf.get(socket);
  if (cached !== undefined) return cached;
  let names: PeerNames | null = null;
  // `authorized`: OpenSSL verified the chain against TLS_CLIENT_CA_FILE (the listener does not reject, so check here).
  if (socket.encrypted === true && socket.authorized === true) {
    const raw = socket.getPeerCertificate()?.raw;
    if (raw !== undefined && raw.length > 0) {
      const cert = new X509Certificate(raw);
      names = { fingerprint256: cert.fingerprint256.toUpperCase(), subject: cert.subject.split('\n').join(', ') };
    }
  }
  namesOf.set(socket, names);
  return names;
}
