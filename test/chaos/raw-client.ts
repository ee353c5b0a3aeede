import { connect } from 'node:net';
import { HOST } from './stage.js';

export interface RawAnswer {
  /** The first response's status, 0 when none came. */
  status: number;
  /** The gateway closed the connection (with or without answering). */
  closed: boolean;
  text: string;
}

/**
 * Sends `bytes` on a fresh connection and reads until the gateway closes it or `waitMs` passes.
 * A client that could only send valid HTTP could not try what an attacker sends.
 */
export function sendRaw(port: number, bytes: string | Buffer, waitMs = 2000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, closed, text });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      // One whole response with a Content-Length is an answer: no need to wait for the close.
      const end = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
      if (end !== -1 && length !== undefined && text.length - end - 4 >= Number(length)) finish(false);
    });
    socket.once('close', () => finish(true));
    // EPIPE/ECONNRESET while we still write a megabyte: the gateway hung up, which is an answer.
    socket.on('error', () => finish(true));
    // write, not end: a client's FIN tells the gateway it left, and it would rightly give up.
    socket.once('connect', () => socket.write(bytes));
  });
}
