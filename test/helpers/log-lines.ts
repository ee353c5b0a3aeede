import { Writable } from 'node:stream';

/** Every JSON log line written to it, parsed: a pino destination for tests that read their logs. */
export class LogLines extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
  matching(pattern: RegExp): Array<Record<string, unknown>> {
    return this.lines.filter((l) => pattern.test(String(l.msg)));
  }
}
