import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort, tcpClient } from './echo-pool.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('TCP streams carry every byte, in order, both ways, under back-pressure', () => {
  const echo = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  let gw: TestGateway;
  let port: number;

  before(async () => {
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    port = await freePort();
    const target = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    gw = await startGateway({ upstreams: [{ name: 'echo', targets: [{ url: target }] }], routes: [], streams: [{ name: 'bulk', port, upstream: 'echo' }] });
  });
  after(async () => {
    await gw?.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  async function roundTrip(bytes: Buffer, readPauses: boolean): Promise<Buffer> {
    const client = await tcpClient(port);
    const got: Buffer[] = [];
    let received = 0;
    const done = new Promise<void>((resolve) => {
      client.socket.on('data', (chunk: Buffer) => {
        got.push(chunk);
        received += chunk.length;
        // A client that stops reading now and then: the stream must hold the target, not drop or reorder.
        // Long enough for every socket buffer on the way back to fill, so the stream's writes to
        // the client have to wait (the case where it must not reuse its read buffer).
        if (readPauses && got.length % 16 === 0) {
          client.socket.pause();
          setTimeout(() => client.socket.resume(), 150);
        }
        if (received >= bytes.length) resolve();
      });
    });
    for (let offset = 0; offset < bytes.length; offset += 256 * 1024) {
      if (!client.socket.write(bytes.subarray(offset, offset + 256 * 1024))) await new Promise((r) => client.socket.once('drain', r));
    }
    await Promise.race([done, sleep(30_000).then(() => assert.fail(`only ${received} of ${bytes.length} bytes came back`))]);
    client.socket.destroy();
    return Buffer.concat(got);
  }

  test('16 MiB of random bytes come back identical', async () => {
    const sent = randomBytes(16 * 1024 * 1024);
    const back = await roundTrip(sent, false);
    assert.equal(back.length, sent.length);
    assert.equal(sha(back), sha(sent));
  });

  test('8 MiB come back identical to a client that keeps pausing its reads', async () => {
    const sent = randomBytes(8 * 1024 * 1024);
    const back = await roundTrip(sent, true);
    assert.equal(back.length, sent.length);
    assert.equal(sha(back), sha(sent));
  });
});
