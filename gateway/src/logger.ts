import { pino, type Logger } from 'pino';

/**
 * Secrets never reach a log line: these paths are censored wherever they appear.
 * (Keys and tokens travel in these headers; hashes and passwords in these fields.)
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.password',
  '*.passwordHash',
  '*.secret',
  '*.hash',
  '*.key',
  '*.token',
  'password',
  'secret',
  'token',
];

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { pid: process.pid } });
}
