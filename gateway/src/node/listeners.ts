import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, Server as HttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, createServer as createH2Server, type Http2SecureServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { FastifyBaseLogger } from 'fastify';
import type { Certificate } from '../../../spec/certificate.js';
import { TrustedProxies } from '../balancer/client-ip.js';
import { readPreamble } from './connection-preamble.js';
import type { EdgeSettings } from './edge-settings.js';
import { guardSession, H2_SERVER_OPTIONS } from './h2-limits.js';
import { CertificateBook, TLS_BASE, type SkippedCertificate } from './sni.js';
import { certificateFault } from '../config/certificate-check.js';
import { answerClientError } from './client-error.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

export interface ListenerOptions {
  port: number;
  host: string;
  edge: EdgeSettings;
  trustedProxies?: readonly string[] | undefined;
  handler: RequestHandler;
  upgrade: UpgradeHandler;
  logger: FastifyBaseLogger;
  /** Told of each answer node:http's parser gives on an HTTP/1.1 connection (400, 408, 413, 431; client-error.ts). */
  clientErrorAnswered?: ((status: number, socket: Socket) => void) | undefined;
}

/** The HTTP/1.1 listener's timeouts: above an ALB's 60 s idle timeout, so the balancer closes first. */
const HTTP1_OPTIONS = { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 } as const;
/** An HTTP/2 session with no stream for this long is closed (GOAWAY), as keep-alive ends an idle HTTP/1.1 connection. */
const H2_IDLE_MS = 65_000;
/** A TLS client that has not finished its handshake in 10 s is not a browser on a slow link but a slowloris. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * The node's public listeners: plain HTTP/1.1 on PORT (plus prior-knowledge h2c when H2C=1),
 * and, when TLS_PORT is set, TLS with HTTP/2 and HTTP/1.1 chosen by ALPN. Every request from any
 * of them reaches the same handler, so routing, stages, limits and streaming are one code path.
 *
 * Without H2C and PROXY_PROTOCOL the plain port is a bare http.Server, exactly as before: the
 * common deployment pays nothing. With either, a net.Server in front reads the connection's
 * first bytes (node/connection-preamble.ts) and hands the socket to the HTTP/1.1 or HTTP/2
 * server with `emit('connection')`; those inner servers never listen themselves.
 */
export class PublicListeners {
  readonly certificates: CertificateBook | undefined;
  /** When the default certificate (TLS_CERT_FILE) expires, ms since the epoch. */
  readonly defaultNotAfter: number | undefined;
  private readonly plain: Server;
  private readonly h2c: Http2Server | undefined;
  private readonly plainFront: NetServer | undefined;
  private readonly tls: Http2SecureServer | undefined;
  private readonly tlsFront: NetServer | undefined;
  private readonly trusted: TrustedProxies | undefined;
  /** Open HTTP/2 sessions per server: closing the server closes them (GOAWAY, in-flight streams finish). */
  private readonly sessions = new Map<Http2Server | Http2SecureServer, Set<ServerHttp2Session>>();

  constructor(private readonly options: ListenerOptions) {
    const { edge, handler } = options;
    this.trusted = options.trustedProxies?.length ? new TrustedProxies(options.trustedProxies) : undefined;
    const proxyProtocol = edge.proxyProtocol === true;
    this.plain = createHttpServer(HTTP1_OPTIONS, handler);
    this.plain.on('upgrade', options.upgrade);
    this.plain.on('clientError', answerClientError(options.clientErrorAnswered));
    if (edge.h2c) {
      this.h2c = createH2Server(H2_SERVER_OPTIONS, h2Handler(handler));
      this.trackSessions(this.h2c);
    }
    if (edge.h2c || proxyProtocol) this.plainFront = this.front((socket, h2, head) => handOff(h2 ? this.h2c! : this.plain, socket, head), edge.h2c === true);
    if (edge.tlsPort !== undefined) {
      const clientCa = edge.clientCa ?? (edge.tlsClientCaFile ? readFileSync(edge.tlsClientCaFile, 'utf8') : undefined);
      // mTLS: every context (the default and each SNI one) verifies against the client CAs; asked, not required.
      const mtls = clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: false } : {};
      this.certificates = new CertificateBook(TLS_BASE, clientCa ? { ca: clientCa } : {});
      const fallback = defaultCertificate(edge, options.logger);
      this.defaultNotAfter = fallback ? Date.parse(new X509Certificate(fallback.cert).validTo) : undefined;
      this.tls = createSecureServer(
        {
          ...TLS_BASE,
          ...H2_SERVER_OPTIONS,
          ...(fallback ?? {}),
          ...mtls,
          allowHTTP1: true,
          ALPNProtocols: ['h2', 'http/1.1'],
          SNICallback: this.certificates.sniCallback,
          handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
        },
        h2Handler(handler),
      );
      // The HTTP/1.1 side of the TLS listener reads these from the server, as http.Server does.
      Object.assign(this.tls, HTTP1_OPTIONS);
      this.tls.on('upgrade', options.upgrade);
      // Its HTTP/1.1 connections run node:http's parser, which emits clientError on this server.
      this.tls.on('clientError', answerClientError(options.clientErrorAnswered));
      this.trackSessions(this.tls);
      this.tls.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
        options.logger.debug({ err: { message: err.message, code: err.code }, peer: socket.remoteAddress }, 'TLS handshake failed');
      });
      if (proxyProtocol) {
        this.tlsFront = this.front((socket, _h2, head) => handOff(this.tls!, socket, head), false);
        this.tls.on('secureConnection', carryClientAddress);
      }
    }
  }

  /** A net.Server that reads the preamble, then hands the socket on (or closes it, logging why). */
  private front(handOff: (socket: Socket, h2: boolean, head: Buffer | undefined) => void, sniffH2: boolean): NetServer {
    const preamble = { proxyProtocol: this.options.edge.proxyProtocol === true, trusted: this.trusted, sniffH2 };
    return createNetServer((socket) => {
      readPreamble(socket, preamble, (result) => {
        if (result.ok) return handOff(socket, result.h2, result.head);
        this.options.logger.warn({ peer: socket.remoteAddress, reason: result.reason }, 'connection refused before its first request');
        socket.destroy();
      });
    });
  }

  /**
   * Node 24's Http2Server#close sends its sessions GOAWAY; Node 22's waits for them to end by
   * themselves, so a graceful stop (node/drain.ts calls close()) would hang on every idle
   * keep-alive session until its timeout. The server's close does it here, on both.
   */
  private trackSessions(server: Http2Server | Http2SecureServer): void {
    const open = new Set<ServerHttp2Session>();
    this.sessions.set(server, open);
    server.on('session', (session: ServerHttp2Session) => {
      open.add(session);
      session.once('close', () => open.delete(session));
      this.onSession(session);
    });
    const close = server.close.bind(server);
    server.close = ((callback?: (err?: Error) => void) => {
      close(callback);
      for (const session of open) if (!session.closed && !session.destroyed) session.close();
      return server;
    }) as typeof server.close;
  }

  private onSession(session: ServerHttp2Session): void {
    guardSession(session, () => this.options.logger.warn({ peer: session.socket?.remoteAddress }, 'HTTP/2 rapid reset: session closed with ENHANCE_YOUR_CALM'));
    session.setTimeout(H2_IDLE_MS, () => session.close());
  }

  async listen(): Promise<void> {
    const { port, host, edge } = this.options;
    if (this.plainFront) {
      // The inner servers never listen; 'listening' starts their connection bookkeeping (idle and header timeouts).
      this.plain.emit('listening');
      await listenOn(this.plainFront, port, host);
    } else await listenOn(this.plain, port, host);
    if (this.tls) {
      if (this.tlsFront) await listenOn(this.tlsFront, edge.tlsPort!, edge.tlsHost ?? host);
      else await listenOn(this.tls, edge.tlsPort!, edge.tlsHost ?? host);
    }
  }

  /** Use a new generation's certificates for new handshakes; returns the certificates skipped. */
  useCertificates(certificates: readonly Certificate[]): SkippedCertificate[] {
    return this.certificates?.update(certificates) ?? [];
  }

  get address(): AddressInfo {
    return (this.plainFront ?? this.plain).address() as AddressInfo;
  }

  get tlsAddress(): AddressInfo | undefined {
    return (this.tlsFront ?? this.tls)?.address() as AddressInfo | undefined;
  }

  /**
   * Every server a graceful stop must close (node/drain.ts): the listening ones and the inner
   * ones holding connections. Typed as http.Server for the drain; the others are net.Servers
   * whose missing closeIdleConnections the drain skips.
   */
  get servers(): Server[] {
    const all: unknown[] = [this.plainFront, this.plain, this.h2c, this.tlsFront, this.tls].filter((s) => s !== undefined);
    return all as Server[];
  }

  async close(): Promise<void> {
    const closing = this.servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections?.();
        }),
    );
    await Promise.all(closing);
  }
}

/**
 * The default certificate's PEMs, from the settings or TLS_CERT_FILE/TLS_KEY_FILE. A pair that
 * cannot be served stops the start with the reason (the operator is there to read it); an
 * expired one is served with a warning, as nginx does, rather than take the listener away.
 */
function defaultCertificate(edge: EdgeSettings, logger: FastifyBaseLogger): { cert: string; key: string } | undefined {
  let pair = edge.defaultCertificate;
  if (!pair && edge.tlsCertFile && edge.tlsKeyFile) pair = { cert: readFileSync(edge.tlsCertFile, 'utf8'), key: readFileSync(edge.tlsKeyFile, 'utf8') };
  if (!pair) return undefined;
  const fault = certificateFault(pair.cert, pair.key);
  if (fault && /^(expired|is not valid before)/.test(fault.message)) logger.warn({ reason: `${fault.field} ${fault.message}` }, 'the default TLS certificate (TLS_CERT_FILE) is outside its validity period');
  else if (fault) throw new Error(`TLS_${fault.field === 'cert' ? 'CERT' : 'KEY'}_FILE: the ${fault.field} ${fault.message}`);
  return pair;
}

/**
 * HTTP/2 requests arrive as Http2ServerRequest/Response, Node's HTTP/1-shaped compat objects.
 * RFC 9113 §8.3.1: `:authority` replaces Host; the rest of the gateway reads `host`, so it is
 * filled in from `:authority` when the client sent no Host header. HTTP/1.1 requests pass as is.
 */
function h2Handler(handler: RequestHandler): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void {
  return (req, res) => {
    if (req.httpVersionMajor === 2) {
      const headers = req.headers;
      if (headers.host === undefined && headers[':authority'] !== undefined) headers.host = headers[':authority'] as string;
    }
    // The compat objects answer the ServerResponse calls the proxy makes (writeHead, write, end, flushHeaders).
    handler(req as IncomingMessage, res as ServerResponse);
  };
}

/**
 * Give a socket whose first bytes were already read to a server that did not accept it. Put back
 * with unshift, they reach a reader of the JS stream (the TLS and HTTP/2 sessions read what is
 * buffered before their native reads); Node's HTTP/1.1 parser consumes the socket's handle
 * natively and would never see them, so it is fed them as the 'data' it listens for.
 */
function handOff(server: NetServer, socket: Socket, head: Buffer | undefined): void {
  if (server instanceof HttpServer) {
    server.emit('connection', socket);
    if (head !== undefined && head.length > 0) socket.emit('data', head);
    socket.resume();
    return;
  }
  if (head !== undefined && head.length > 0) socket.unshift(head);
  server.emit('connection', socket);
}

/**
 * The TLSSocket wraps the socket whose PROXY header named the client (node/connection-preamble.ts)
 * and reads its own peer from the kernel; give it the client's address too. `_parent` is the
 * wrapped socket (Node sets it for a TLSSocket made from one, on 22 and 24 alike); requests are
 * read only after 'secureConnection', so every reader sees the client.
 */
function carryClientAddress(tlsSocket: TLSSocket): void {
  const parent = (tlsSocket as TLSSocket & { _parent?: Socket })._parent;
  if (!parent || !Object.prototype.hasOwnProperty.call(parent, 'remoteAddress')) return;
  for (const field of ['remoteAddress', 'remotePort', 'remoteFamily'] as const)
    Object.defineProperty(tlsSocket, field, { value: parent[field], configurable: true });
}

function listenOn(server: NetServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
