import { randomBytes } from 'node:crypto';
import { isFailure, startLoop } from '../load-loop.js';
import { poolConfig, type CaseResult, type ChaosCase } from '../chaos-case.js';
import { sendRaw } from '../raw-client.js';
import { recordingUpstream, type RecordedRequest } from '../raw-upstreams.js';
import { describeFailures, stagePool } from './workers.js';

const RATE = 100;
/** A request that must never reach the upstream on its own: it is only ever inside another one's bytes. */
const SMUGGLED = 'GET /raw/smuggled HTTP/1.1\r\nHost: h\r\n\r\n';

interface Vector {
  name: string;
  bytes: string | Buffer;
  /** An unambiguous request the gateway may forward as it is (an 8 KB URL is long, not wrong). */
  mayForward?: (forwarded: RecordedRequest[]) => boolean;
}

const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;
const longPath = `/raw/${'a'.repeat(8 * 1024)}`;

const vectors: Vector[] = [
  { name: 'garbage bytes', bytes: Buffer.concat([Buffer.from([0x00, 0xff, 0x16, 0x03]), randomBytes(4096)]) },
  { name: '100 KB header', bytes: head(['GET /raw/a HTTP/1.1', 'Host: h', `X-Big: ${'a'.repeat(100 * 1024)}`]) },
  { name: '5 000 headers', bytes: head(['GET /raw/a HTTP/1.1', 'Host: h', ...Array.from({ length: 5000 }, (_, i) => `X-H${i}: v`)]) },
  {
    name: '8 KB URL',
    bytes: head([`GET ${longPath} HTTP/1.1`, 'Host: h']),
    mayForward: (forwarded) => forwarded.length === 1 && forwarded[0]!.requestLine === `GET ${longPath} HTTP/1.1`,
  },
  { name: '1 MB URL', bytes: head([`GET /raw/${'a'.repeat(1024 * 1024)} HTTP/1.1`, 'Host: h']) },
  { name: 'invalid chunk size', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked'])}zz\r\nhello\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'chunk size overflow', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked'])}fffffffffffffffff1\r\nhello\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'chunk without CRLF', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked'])}5\r\nhelloXX0\r\n\r\n${SMUGGLED}` },
  { name: 'CL + TE', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Content-Length: 5', 'Transfer-Encoding: chunked'])}0\r\n\r\n${SMUGGLED}` },
  { name: 'TE + CL', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked', `Content-Length: ${5 + SMUGGLED.length}`])}0\r\n\r\n${SMUGGLED}` },
  { name: 'TE xchunked', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Content-Length: 5', 'Transfer-Encoding: xchunked'])}0\r\n\r\n${SMUGGLED}` },
  { name: 'TE chunked, identity', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Content-Length: 5', 'Transfer-Encoding: chunked, identity'])}0\r\n\r\n${SMUGGLED}` },
  { name: 'TE twice', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked', 'Transfer-Encoding: identity', 'Content-Length: 5'])}0\r\n\r\n${SMUGGLED}` },
  { name: 'TE with space before colon', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Content-Length: 5', 'Transfer-Encoding : chunked'])}0\r\n\r\n${SMUGGLED}` },
  { name: 'TE folded (obs-fold)', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Content-Length: 5', 'X-Fold: a', ' Transfer-Encoding: chunked'])}0\r\n\r\n${SMUGGLED}` },
  { name: 'duplicate CL', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', 'Content-Length: 5', `Content-Length: ${5 + SMUGGLED.length}`])}hello${SMUGGLED}` },
  { name: 'CL with space before colon', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', `Content-Length : ${SMUGGLED.length}`])}${SMUGGLED}` },
  { name: 'CL with sign', bytes: `${head(['POST /raw/a HTTP/1.1', 'Host: h', `Content-Length: +${SMUGGLED.length}`])}${SMUGGLED}` },
  { name: 'bare LF line ends', bytes: `POST /raw/a HTTP/1.1\nHost: h\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\n\n${SMUGGLED}` },
];

/** What an origin could read two ways: the framing headers must be single and plain. */
function ambiguity(request: RecordedRequest): string | undefined {
  const names = request.headers.map(([n]) => n.toLowerCase());
  const count = (name: string) => names.filter((n) => n === name).length;
  if (request.requestLine.includes('smuggled')) return 'a smuggled request arrived';
  if (count('content-length') > 1) return 'two Content-Length';
  if (count('transfer-encoding') > 1) return 'two Transfer-Encoding';
  if (count('content-length') > 0 && count('transfer-encoding') > 0) return 'Content-Length with Transfer-Encoding';
  const te = request.headers.find(([n]) => n.toLowerCase() === 'transfer-encoding')?.[1];
  if (te !== undefined && te.toLowerCase() !== 'chunked') return `Transfer-Encoding "${te}"`;
  if (request.headers.some(([n]) => /\s/.test(n) || n === '')) return 'a header name with whitespace';
  if (!/^[A-Z]+ \/\S* HTTP\/1\.1$/.test(request.requestLine)) return `request line "${request.requestLine.slice(0, 60)}"`;
  return undefined;
}

export const smugglingCase: ChaosCase = {
  name: 'garbage, huge heads, bad chunking, smuggling',
  limitMs: 90_000,
  async run(): Promise<CaseResult> {
    const recorder = await recordingUpstream();
    const stage = await stagePool('smuggling', (workers) =>
      poolConfig(workers.map((w) => w.url), {
        upstreams: [{ name: 'raw', targets: [{ url: recorder.url }] }],
        routes: [{ name: 'raw', methods: ['GET', 'POST'], paths: ['/raw/*'], upstream: 'raw', retries: 0 }],
      }));
    try {
      const loop = startLoop({ url: `${stage.gateway.publicUrl}/echo`, ratePerSecond: RATE });
      const bad: string[] = [];
      const outcomes: string[] = [];
      for (const vector of vectors) {
        const seenBefore = recorder.requests.length;
        const bytesBefore = recorder.allBytes().length;
        const answer = await sendRaw(stage.gateway.port, vector.bytes);
        // Give a forwarded request time to arrive before judging what the upstream saw.
        await new Promise((resolve) => setTimeout(resolve, 100));
        const forwarded = recorder.requests.slice(seenBefore);
        const arrived = recorder.allBytes().slice(bytesBefore);
        const refused = (answer.status >= 400 && answer.status < 500) || (answer.status === 0 && answer.closed);
        const allowed = !refused && vector.mayForward !== undefined && answer.status === 200 && vector.mayForward(forwarded);
        const problem = forwarded.map(ambiguity).find((p) => p !== undefined) ?? (arrived.includes('smuggled') ? 'smuggled bytes reached the upstream' : undefined);
        const outcome = answer.status === 0 ? (answer.closed ? 'closed' : 'no answer') : String(answer.status);
        outcomes.push(`${vector.name}: ${outcome}${forwarded.length ? ` (${forwarded.length} forwarded)` : ''}`);
        if (problem !== undefined) bad.push(`${vector.name}: ${problem}`);
        else if (!refused && !allowed) bad.push(`${vector.name}: answered ${outcome}, neither refused nor forwarded cleanly`);
      }
      const after = await sendRaw(stage.gateway.port, head(['GET /raw/still-serving HTTP/1.1', 'Host: h', 'Connection: close']));
      const samples = await loop.stop();
      const failures = samples.filter((s) => isFailure(s));
      return {
        name: this.name,
        sent: samples.length + vectors.length,
        failed: failures.length + bad.length,
        recoveryMs: null,
        pass: bad.length === 0 && failures.length === 0 && after.status === 200 && stage.gateway.alive(),
        goal: `each of ${vectors.length} vectors refused (4xx) or closed, nothing ambiguous forwarded; the gateway keeps serving`,
        detail: `${bad.length ? `BAD: ${bad.join('; ')}. ` : ''}${outcomes.join(', ')}; loop failures: ${describeFailures(failures)}; afterwards ${after.status}`,
      };
    } finally {
      await stage.teardown();
      await recorder.close();
    }
  },
};
