import { connect } from 'node:net';

export interface RawAnswer {
  /** 0 when the gateway closed the connection without a status line. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the gateway wrote, as text. */
  raw: string;
}

/**
 * Writes `bytes` to a fresh TCP connection and reads until the peer closes or `waitMs` passes:
 * the only way to send what an HTTP client library refuses to (absolute-form, duplicate Host,
 * HTTP/0.9 request lines, backslashes).
 */
export function rawRequest(url: string, bytes: string, waitMs = 2000): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parse(Buffer.concat(chunks).toString('latin1')));
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      // One complete answer with a content-length is enough: no need to wait for the close.
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text);
      if (end !== -1 && length && text.length >= end + 4 + Number(length[1])) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.write(bytes, 'latin1');
  });
}

function parse(raw: string): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? raw : raw.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: status ? Number(status[1]) : 0, headers, body: end === -1 ? '' : raw.slice(end + 4), raw };
}
