import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The status node:http answers a parse error with, by the error's code (its own table). */
function statusOf(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

/**
 * The listener's 'clientError' handler: bytes that do not parse as a request, headers past the
 * limit, a request that timed out before it was whole. It answers exactly as node:http does when
 * nobody listens (the same status line, `Connection: close`, only if no answer has started on
 * the connection, then the socket is destroyed) and tells `answered` the status it wrote, so that
 * these answers are counted and logged like every other one the gateway gives.
 */
export function answerClientError(answered: ((status: number, socket: Socket) => void) | undefined): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && (!inFlight || !inFlight.headersSent)) {
      const status = statusOf(err.code);
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`, 'ascii');
      answered?.(status, socket);
    }
    socket.destroy(err);
  };
}
