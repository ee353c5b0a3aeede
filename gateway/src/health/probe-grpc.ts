import { connect, constants } from 'node:http2';
import { tlsConnectOptions } from '../balancer/target-registry.js';
import { describeError, type Probe, type ProbeConfig, type ProbeResult } from './probe.js';

/** grpc.health.v1.HealthCheckResponse.ServingStatus names, by wire value (grpc/doc/health-checking.md). */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/**
 * One length-prefixed gRPC message holding a HealthCheckRequest (field 1, `service`, a string).
 * The message is a few bytes, so it is encoded here rather than loading a .proto per probe.
 */
function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  // Field 1, wire type 2 (length-delimited); names over 127 bytes would need a longer varint (schema caps at 200).
  const body = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name]);
  const frame = Buffer.alloc(5 + body.length);
  frame[0] = 0; // not compressed
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** The `status` (field 1, varint) of a HealthCheckResponse in the first gRPC message of `data`; 0 when absent. */
function servingStatus(data: Buffer): number {
  if (data.length < 5) return -1;
  const length = data.readUInt32BE(1);
  const message = data.subarray(5, 5 + length);
  for (let i = 0; i < message.length; ) {
    const tag = message[i++]!;
    if (tag === 0x08) return message[i] ?? 0;
    // Skip any other field (none is defined today): varints only, as the schema has no others.
    while (i < message.length && (message[i++]! & 0x80) !== 0);
  }
  return 0;
}

/**
 * The gRPC health protocol: `grpc.health.v1.Health/Check` over h2c (or TLS for https targets);
 * up when the call ends with grpc-status 0 and the status is SERVING. A NOT_SERVING worker (a
 * Triton or vLLM server still loading its model) is down though it accepts connections.
 */
export function createGrpcProbe(origin: string, config: ProbeConfig & { grpcService?: string | undefined }): Probe {
  const request = healthCheckRequest(config.grpcService ?? '');
  return {
    run(): Promise<ProbeResult> {
      const started = performance.now();
      return new Promise((resolve) => {
        let settled = false;
        // The upstream's client certificate, for a target that requires one.
        const session = connect(origin, { rejectUnauthorized: false, ...tlsConnectOptions(config.tls) });
        const finish = (ok: boolean, detail: string) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          session.destroy();
          resolve({ ok, latencyMs: performance.now() - started, detail });
        };
        const timer = setTimeout(() => finish(false, `timeout after ${config.timeoutMs} ms`), config.timeoutMs);
        session.on('error', (err) => finish(false, describeError(err)));
        const stream = session.request({
          [constants.HTTP2_HEADER_METHOD]: 'POST',
          [constants.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        const chunks: Buffer[] = [];
        let grpcStatus: string | undefined;
        let grpcMessage = '';
        const statusFrom = (headers: Record<string, unknown>) => {
          if (headers['grpc-status'] !== undefined) {
            grpcStatus = String(headers['grpc-status']);
            grpcMessage = String(headers['grpc-message'] ?? '');
          }
        };
        stream.on('response', (headers) => {
          const status = Number(headers[':status']);
          if (status !== 200) return finish(false, `HTTP ${status}`);
          statusFrom(headers);
        });
        stream.on('trailers', statusFrom);
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', (err) => finish(false, describeError(err)));
        stream.on('close', () => {
          if (grpcStatus === undefined) return finish(false, 'no grpc-status in the answer');
          if (grpcStatus !== '0') return finish(false, `grpc-status ${grpcStatus}${grpcMessage ? `: ${decodeURIComponent(grpcMessage)}` : ''}`);
          const serving = servingStatus(Buffer.concat(chunks));
          finish(serving === 1, SERVING_STATUS[serving] ?? `status ${serving}`);
        });
        stream.end(request);
      });
    },
    close(): void {},
  };
}
