import { constants, type Http2Session, type Http2Stream, type ServerHttp2Session, type Settings } from 'node:http2';

/**
 * HTTP/2's own limits for client connections.
 * - 128 concurrent streams: nginx's http2_max_concurrent_streams default; a client that wants
 *   more parallelism opens another connection, which the balancer then sees.
 * - 64 KiB header list: the HTTP/1.1 listener's header limit (Node's 16 KiB is for the header
 *   block on the wire; this bounds the decoded list, HPACK's amplification included).
 */
export const H2_SETTINGS: Settings = { maxConcurrentStreams: 128, maxHeaderListSize: 65_536 };

/** Options for http2.createServer / createSecureServer beyond `settings`. */
export const H2_SERVER_OPTIONS = {
  settings: H2_SETTINGS,
  // Streams refused for exceeding maxConcurrentStreams before the session is torn down.
  maxSessionRejectedStreams: 100,
  // Malformed frames tolerated per session.
  maxSessionInvalidFrames: 100,
  // MiB of HPACK/state per session (Node's default 10); a session past it gets ENHANCE_YOUR_CALM.
  maxSessionMemory: 10,
};

/**
 * CVE-2023-44487 ("rapid reset"): a client opens streams and cancels them at once, so the server
 * starts work for requests nobody waits for, never bounded by maxConcurrentStreams. nghttp2
 * 1.57+ rate-limits RST_STREAM itself; this is the gateway's own bound, independent of the
 * bundled nghttp2: more than RESET_LIMIT streams the client reset within RESET_WINDOW_MS →
 * GOAWAY(ENHANCE_YOUR_CALM) and the session is destroyed. 200 in 10 s is far above what a real
 * client cancels (a user closing tabs of streamed completions), far below an attack's thousands.
 */
export const RESET_LIMIT = 200;
export const RESET_WINDOW_MS = 10_000;

export function guardSession(session: ServerHttp2Session, onAbuse?: (session: Http2Session) => void): void {
  let windowStart = 0;
  let resets = 0;
  const counted = () => {
    const now = Date.now();
    if (now - windowStart > RESET_WINDOW_MS) {
      windowStart = now;
      resets = 0;
    }
    if (++resets <= RESET_LIMIT || session.destroyed) return;
    onAbuse?.(session);
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  };
  // 'aborted': the stream closed (the peer's RST_STREAM) before this side finished its answer.
  session.on('stream', (stream: Http2Stream) => void stream.once('aborted', counted));
}
