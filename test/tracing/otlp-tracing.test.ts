import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { request } from 'undici';
import { OtelRequestTracer } from '../../gateway/src/tracing/otel-tracer.js';
import { readTracingSettings } from '../../gateway/src/tracing/tracing-settings.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { LogLines } from '../helpers/log-lines.js';
import { startWebSocketEcho } from '../helpers/websocket-upstream.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const SERVER = 2;
const CLIENT = 3;
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;

const sink = new LogLines();
const lines = sink.lines;

let receiver: OtlpReceiver;
let up: EchoUpstream;
let sick: EchoUpstream;
let realtime: Awaited<ReturnType<typeof startWebSocketEcho>>;
let tracer: OtelRequestTracer;
let traced: TestGateway;
let plain: TestGateway;

const config = () => ({
  upstreams: [
    { name: 'echo', targets: [{ url: up.url }] },
    // Round robin: of two requests one goes to the sick target first, gets 503 and is retried on the echo.
    { name: 'flaky', targets: [{ url: sick.url }, { url: up.url }] },
    { name: 'rt', targets: [{ url: realtime.url }] },
  ],
  routes: [
    { name: 'chat', methods: ['GET', 'POST'], paths: ['/v1/*'], upstream: 'echo' },
    { name: 'retried', methods: ['GET'], paths: ['/flaky/*'], upstream: 'flaky', retries: 1 },
    { name: 'keyed', methods: ['GET'], paths: ['/keyed'], upstream: 'echo', auth: 'api-key' },
    { name: 'realtime', methods: ['GET'], paths: ['/v1/realtime'], upstream: 'rt' },
  ],
  consumers: [],
});

before(async () => {
  receiver = await startOtlpReceiver();
  up = await startEchoUpstream('echo');
  sick = await startEchoUpstream('sick');
  realtime = await startWebSocketEcho('realtime');
  sick.handler = (_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain' }).end('overloaded');
    return true;
  };
  const settings = readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'switchboard-test' });
  assert.ok(settings);
  tracer = new OtelRequestTracer(settings);
  traced = await startGateway(config(), { tracer, accessLog: true, logger: pino({ level: 'info' }, sink) });
  plain = await startGateway(config());
});
after(async () => {
  await traced.close();
  await plain.close();
  await up.close();
  await sick.close();
  await realtime.close();
  await receiver.close();
});

/** Flush the gateway's batch and wait for the spans of one trace to arrive. */
async function spansOf(traceId: string, count: number): Promise<ReceivedSpan[]> {
  await tracer.flush();
  const mine = () => receiver.spans.filter((s) => s.traceId === traceId);
  await waitFor(() => mine().length >= count, 5000, `${count} spans of trace ${traceId}`);
  return mine();
}

function parseTraceparent(value: unknown): { traceId: string; parentId: string; flags: string } {
  assert.equal(typeof value, 'string', `traceparent ${String(value)}`);
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value as string);
  assert.ok(m, `a W3C traceparent: ${String(value)}`);
  return { traceId: m[1]!, parentId: m[2]!, flags: m[3]! };
}

test('with tracing on, the OTLP receiver gets the server and client spans of a request in the trace of its traceparent', async () => {
  const before = up.received.length;
  const res = await request(`${traced.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { traceparent: TRACEPARENT, tracestate: 'vendor=opaque', 'content-type': 'application/json' },
    body: '{"model":"m"}',
  });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  const seen = up.received[before]!;
  const upstream = parseTraceparent(seen.headers.traceparent);
  assert.equal(upstream.traceId, CLIENT_TRACE, 'the upstream continues the client trace');
  assert.notEqual(upstream.parentId, CLIENT_SPAN, "the upstream's parent is the gateway's span, not the client's");
  assert.equal(upstream.flags, '01');
  assert.equal(seen.headers.tracestate, 'vendor=opaque', 'tracestate travels on with the trace');

  const spans = await spansOf(CLIENT_TRACE, 2);
  const server = spans.find((s) => s.kind === SERVER);
  const client = spans.find((s) => s.kind === CLIENT);
  assert.ok(server && client, JSON.stringify(spans));
  assert.equal(server.parentSpanId, CLIENT_SPAN, "the server span's parent is the client's span");
  assert.equal(client.parentSpanId, server.spanId, 'the client span is a child of the server span');
  assert.equal(upstream.parentId, client.spanId, "the upstream's traceparent names the client span");
  assert.equal(server.service, 'switchboard-test');
  assert.equal(server.name, 'POST chat');
  assert.equal(server.attributes['switchboard.route'], 'chat');
  assert.equal(server.attributes['http.request.method'], 'POST');
  assert.equal(server.attributes['url.path'], '/v1/chat/completions');
  assert.equal(server.attributes['http.response.status_code'], 200);
  assert.equal(client.attributes['switchboard.target'], up.url);
  assert.equal(client.attributes['switchboard.upstream'], 'echo');
  assert.equal(client.attributes['switchboard.fallback'], undefined, 'not a fallback');
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.equal(client.attributes['http.request.resend_count'], undefined, 'a first attempt is no resend');
  assert.ok(receiver.contentTypes.every((t) => t.startsWith('application/json')), `OTLP/HTTP JSON: ${receiver.contentTypes}`);
});

test('a request without traceparent starts a new trace, and its trace id is in the access log', async () => {
  const before = up.received.length;
  const res = await request(`${traced.url}/v1/models`, { headers: { 'x-request-id': 'trace-me' } });
  await res.body.dump();
  const upstream = parseTraceparent(up.received[before]!.headers.traceparent);
  assert.notEqual(upstream.traceId, CLIENT_TRACE);
  await waitFor(() => lines.some((l) => l.msg === 'access' && l.requestId === 'trace-me'), 2000, 'the access line');
  const line = lines.find((l) => l.msg === 'access' && l.requestId === 'trace-me')!;
  assert.equal(line.traceId, upstream.traceId);
  const spans = await spansOf(upstream.traceId, 2);
  const server = spans.find((s) => s.kind === SERVER)!;
  assert.equal(server.parentSpanId, undefined, 'a root span');
});

/** A WebSocket handshake over a raw socket (a browser's WebSocket sends no traceparent); resolves with the gateway's answer head, then closes. */
function upgrade(url: string, path: string, headers: Record<string, string>): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let head = '';
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.end(Buffer.from([0x88, 0x80, 0, 0, 0, 0])); // a masked close frame, then FIN
      resolve(head);
    });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`GET ${path} HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`);
  });
}

test('a WebSocket is traced like any request: a server span and a client span with 101, the handshake carrying the trace, and an access line', async () => {
  const trace = '0af7651916cd43dd8448eb211c80319c';
  const before = realtime.handshakes.length;
  const head = await upgrade(traced.url, '/v1/realtime', { traceparent: `00-${trace}-b7ad6b7169203331-01`, 'x-request-id': 'ws-traced' });
  assert.match(head, /^HTTP\/1\.1 101 /);
  const handshake = parseTraceparent(realtime.handshakes[before]!.headers.traceparent);
  assert.equal(handshake.traceId, trace, "the upstream's handshake continues the client's trace");

  // The line is written when the tunnel closes, as its spans end: only then are they flushed.
  await waitFor(() => lines.some((l) => l.msg === 'access' && l.requestId === 'ws-traced'), 3000, "the WebSocket's access line");
  const line = lines.find((l) => l.msg === 'access' && l.requestId === 'ws-traced')!;
  assert.equal(line.status, 101);
  assert.equal(line.route, 'realtime');
  assert.equal(line.target, realtime.url);
  assert.equal(line.attempts, 1);
  assert.equal(line.traceId, trace);

  const spans = await spansOf(trace, 2);
  const server = spans.find((s) => s.kind === SERVER);
  const client = spans.find((s) => s.kind === CLIENT);
  assert.ok(server && client, JSON.stringify(spans));
  assert.equal(server.parentSpanId, 'b7ad6b7169203331');
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(handshake.parentId, client.spanId, "the handshake's traceparent names the client span");
  assert.equal(server.name, 'GET realtime');
  assert.equal(server.attributes['switchboard.route'], 'realtime');
  assert.equal(server.attributes['http.response.status_code'], 101);
  assert.equal(server.attributes['error.type'], undefined, 'a tunnel that closed is no client cut');
  assert.equal(client.attributes['switchboard.target'], realtime.url);
  assert.equal(client.attributes['http.response.status_code'], 101);

});

test('each upstream attempt is its own client span: a retried 503 shows both, the retry numbered', async () => {
  const traces = ['aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2'];
  for (const trace of traces) {
    const res = await request(`${traced.url}/flaky/x`, { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  await spansOf(traces[0]!, 2);
  await spansOf(traces[1]!, 2);
  const trace = traces.find((t) => receiver.spans.filter((s) => s.traceId === t).length === 3);
  assert.ok(trace, `one request of two met the sick target first: ${JSON.stringify(receiver.spans.filter((s) => traces.includes(s.traceId)))}`);
  const spans = await spansOf(trace, 3);
  const server = spans.find((s) => s.kind === SERVER)!;
  const attempts = spans.filter((s) => s.kind === CLIENT);
  assert.equal(attempts.length, 2, JSON.stringify(spans));
  const failed = attempts.find((s) => s.attributes['switchboard.target'] === sick.url)!;
  const retried = attempts.find((s) => s.attributes['switchboard.target'] === up.url)!;
  assert.equal(failed.attributes['http.response.status_code'], 503);
  assert.equal(failed.statusCode, 2, 'a 503 attempt is an error span');
  assert.equal(retried.attributes['http.request.resend_count'], 1);
  assert.equal(retried.attributes['http.response.status_code'], 200);
  for (const a of attempts) assert.equal(a.parentSpanId, server.spanId);
  assert.equal(server.attributes['http.response.status_code'], 200);
  assert.equal(server.statusCode, 0, 'the request succeeded');
});

test('a refusal by a route stage is a server span named by its route, with the 401', async () => {
  const trace = 'ddddddddddddddddddddddddddddddd4';
  const res = await request(`${traced.url}/keyed`, { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01`, 'x-api-key': 'sb_live_notarealkeyatall' } });
  assert.equal(res.statusCode, 401);
  await res.body.dump();
  const [server] = await spansOf(trace, 1);
  assert.equal(server!.name, 'GET keyed');
  assert.equal(server!.attributes['switchboard.route'], 'keyed');
  assert.equal(server!.attributes['http.response.status_code'], 401);
  const line = lines.find((l) => l.msg === 'access' && l.path === '/keyed');
  assert.equal(line?.traceId, trace, 'the refusal is logged with its trace id');
});

test("a refusal by the gateway itself (no route) is a server span with the gateway's status", async () => {
  const trace = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2';
  const res = await request(`${traced.url}/nowhere`, { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } });
  assert.equal(res.statusCode, 404);
  await res.body.dump();
  const [server] = await spansOf(trace, 1);
  assert.equal(server!.kind, SERVER);
  assert.equal(server!.attributes['http.response.status_code'], 404);
});

test('an unsampled traceparent is continued but not exported: the upstream sees flags 00 and the same trace', async () => {
  const trace = 'ccccccccccccccccccccccccccccccc3';
  const before = up.received.length;
  const res = await request(`${traced.url}/v1/x`, { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-00` } });
  await res.body.dump();
  const upstream = parseTraceparent(up.received[before]!.headers.traceparent);
  assert.equal(upstream.traceId, trace);
  assert.equal(upstream.flags, '00');
  await tracer.flush();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(receiver.spans.filter((s) => s.traceId === trace).length, 0, 'parentbased_always_on follows the parent: not sampled');
});

test('with tracing off, the upstream gets the client traceparent and tracestate unchanged, and none is made up', async () => {
  const before = up.received.length;
  await (await request(`${plain.url}/v1/x`, { headers: { traceparent: TRACEPARENT, tracestate: 'vendor=opaque' } })).body.dump();
  await (await request(`${plain.url}/v1/y`)).body.dump();
  const [withHeader, without] = up.received.slice(before);
  assert.equal(withHeader!.headers.traceparent, TRACEPARENT);
  assert.equal(withHeader!.headers.tracestate, 'vendor=opaque');
  assert.equal(without!.headers.traceparent, undefined);
});

test('an invalid traceparent is replaced by a new trace when tracing is on, its tracestate dropped', async () => {
  const before = up.received.length;
  await (await request(`${traced.url}/v1/x`, { headers: { traceparent: '00-zzzz-not-valid-01', tracestate: 'orphan=1' } })).body.dump();
  const seen = up.received[before]!;
  parseTraceparent(seen.headers.traceparent);
  assert.equal(seen.headers.tracestate, undefined);
});
