import type { ServerResponse } from 'node:http';
import type { RenderableProblem } from './error-format.js';

/** A gRPC request: `application/grpc`, `application/grpc+proto`, `application/grpc+json`… (gRPC over HTTP/2 spec). */
export function isGrpcRequest(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc') && (contentType.length === 16 || contentType[16] === '+' || contentType[16] === ';');
}

/** gRPC status codes (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * The gRPC status for a gateway-made error, by HTTP status (grpc/doc/http-grpc-status-mapping.md,
 * refined where the gateway knows more: 429 and 413 are limits the caller hit, RESOURCE_EXHAUSTED;
 * 504 is the route's timeout, DEADLINE_EXCEEDED; no route for the method is UNIMPLEMENTED).
 */
export function grpcStatusOf(status: number): number {
  switch (status) {
    case 400:
    case 422:
      return GrpcStatus.INVALID_ARGUMENT;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
    case 405:
      return GrpcStatus.UNIMPLEMENTED;
    case 408:
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 409:
      return GrpcStatus.ABORTED;
    case 412:
      return GrpcStatus.FAILED_PRECONDITION;
    case 413:
    case 429:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 502:
    case 503:
      return GrpcStatus.UNAVAILABLE;
  }
  return status >= 500 ? GrpcStatus.INTERNAL : GrpcStatus.INVALID_ARGUMENT;
}

/** grpc-message is percent-encoded UTF-8: bytes outside printable ASCII, and '%' itself (gRPC over HTTP/2 spec). */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * A gateway-made error on a gRPC request, as gRPC clients read one: HTTP 200, content-type
 * application/grpc, no message, and grpc-status / grpc-message in the trailers. They also go in
 * the headers, so a client reading the head (curl, a load balancer's log) sees them too; gRPC
 * clients take the status from the trailers that end the stream. The problem's type and request
 * id ride along as headers (`x-request-id`, `sb-problem-type`).
 */
export function writeGrpcError(res: ServerResponse, p: RenderableProblem, headers: Record<string, string | number>): void {
  const status = String(grpcStatusOf(p.status));
  const message = encodeGrpcMessage(p.detail);
  const head: Record<string, string | number> = { ...headers, 'content-type': 'application/grpc', 'sb-problem-type': p.type, 'grpc-status': status, 'grpc-message': message };
  delete head['content-length'];
  delete head.connection;
  res.writeHead(200, head);
  res.addTrailers({ 'grpc-status': status, 'grpc-message': message });
  res.end();
}
