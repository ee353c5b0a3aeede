import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeGrpcMessage, grpcStatusOf, isGrpcRequest } from '../../gateway/src/contracts/grpc-status.js';

describe('gRPC statuses for the errors the gateway makes', () => {
  test('only application/grpc and its +proto/+json/; variants count as gRPC requests', () => {
    for (const t of ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc; charset=utf-8']) assert.ok(isGrpcRequest(t), t);
    for (const t of [undefined, 'application/json', 'application/grpc-web', 'application/grpcx', ['application/grpc']]) assert.ok(!isGrpcRequest(t as never), String(t));
  });

  test('HTTP statuses map to the gRPC codes clients retry and report on', () => {
    const cases: Array<[number, number]> = [
      [400, 3], [401, 16], [403, 7], [404, 12], [405, 12], [408, 4], [409, 10], [412, 9], [413, 8], [429, 8],
      [500, 13], [502, 14], [503, 14], [504, 4], [418, 3], [507, 13],
    ];
    for (const [http, grpc] of cases) assert.equal(grpcStatusOf(http), grpc, `HTTP ${http}`);
  });

  test('grpc-message is percent-encoded UTF-8, printable ASCII other than % kept', () => {
    assert.equal(encodeGrpcMessage('no key: 100% ✓\n'), 'no key: 100%25 %E2%9C%93%0A');
    assert.equal(decodeURIComponent(encodeGrpcMessage('upstream "a" — down')), 'upstream "a" — down');
  });
});
