import type { Socket } from 'node:net';
import { normalizeAddress, type TrustedProxies } from '../balancer/client-ip.js';
import { looksLikeProxyHeader, parseProxyHeader } from './proxy-protocol.js';

/** RFC 9113 §3.4: the client connection preface of HTTP/2 with prior knowledge. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** nginx's proxy_protocol_timeout is 30 s; a balancer sends the header at once, so 10 s is generous. */
const PREAMBLE_TIMEOUT_MS = 10_000;
/** Enough for the largest PROXY v2 header we take, with the start of the client's bytes behind it. */
const PREAMBLE_LIMIT = 4096;

export interface PreambleOptions {
  /** PROXY_PROTOCOL=1: read a header from trusted peers, refuse one from anyone else. */
  proxyProtocol: boolean;
  trusted: TrustedProxies | undefined;
  /** Sniff the HTTP/2 preface (h2c with prior knowledge beside HTTP/1.1). */
  sniffH2: boolean;
}

/** `head`: the client's own first bytes, read while looking; the next reader must get them first. */
export type Preamble = { ok: true; h2: boolean; head?: Buffer } | { ok: false; reason: string };

/**
 * Read what comes before the HTTP bytes of a new connection — a PROXY protocol header, the
 * HTTP/2 preface — and hand back the client's own bytes read meanwhile (`head`), which the
 * server the socket goes to must read first (node/listeners.ts `handOff`). The real client's
 * address replaces the socket's `remoteAddress` (and port, family): every reader of the peer —
 * x-forwarded-for, ip-restriction, per-IP limits, ip-hash, the access log — sees the client.
 */
export function readPreamble(socket: Socket, options: PreambleOptions, done: (result: Preamble) => void): void {
  const peer = normalizeAddress(socket.remoteAddress ?? '');
  const fromTrusted = options.proxyProtocol && options.trusted !== undefined && options.trusted.contains(peer);
  let expectHeader = fromTrusted;
  let checkForHeader = options.proxyProtocol && !fromTrusted;
  let head: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (result: { ok: true; h2: boolean } | { ok: false; reason: string }) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('close', onClose);
    socket.removeListener('error', onClose);
    if (result.ok) socket.pause();
    done(result.ok ? { ...result, head } : result);
  };
  const step = () => {
    if (expectHeader) {
      const header = parseProxyHeader(head);
      if (header.kind === 'more') return head.length > PREAMBLE_LIMIT ? finish({ ok: false, reason: 'PROXY header too long' }) : undefined;
      if (header.kind === 'bad') return finish({ ok: false, reason: header.reason });
      if (header.source) {
        const { address, port, family } = header.source;
        Object.defineProperty(socket, 'remoteAddress', { value: address, configurable: true });
        Object.defineProperty(socket, 'remotePort', { value: port, configurable: true });
        Object.defineProperty(socket, 'remoteFamily', { value: family, configurable: true });
      }
      head = head.subarray(header.length);
      expectHeader = false;
    }
    if (checkForHeader) {
      const proxyLike = looksLikeProxyHeader(head);
      if (proxyLike === undefined) return;
      if (proxyLike) return finish({ ok: false, reason: `a PROXY protocol header from ${peer}, which is not in TRUSTED_PROXIES` });
      checkForHeader = false;
    }
    if (!options.sniffH2) return finish({ ok: true, h2: false });
    const n = Math.min(head.length, H2_PREFACE.length);
    for (let i = 0; i < n; i++) if (head[i] !== H2_PREFACE[i]) return finish({ ok: true, h2: false });
    if (head.length >= H2_PREFACE.length) return finish({ ok: true, h2: true });
  };
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    step();
  };
  const onClose = () => finish({ ok: false, reason: 'closed before its first request' });
  const timer = setTimeout(() => finish({ ok: false, reason: 'sent nothing for 10 s' }), PREAMBLE_TIMEOUT_MS);
  timer.unref();
  socket.on('data', onData);
  socket.once('close', onClose);
  socket.once('error', onClose);
}
