import { pino, type Logger } from 'pino';
import { redactUrls } from './redact-url.js';

/**
 * Secrets never reach a log line: these paths are censored wherever they appear.
 * (Keys and tokens travel in these headers; hashes and passwords in these fields.)
 */
export const REDACT = [
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

/** An error (or an error's message) with credentials in any URL it quotes masked: drivers quote their connection strings. */
function errWithoutCredentials(err: unknown): unknown {
  if (typeof err === 'string') return redactUrls(err);
  if (!(err instanceof Error)) return err;
  const out = pino.stdSerializers.err(err);
  out.message = redactUrls(out.message);
  if (out.stack) out.stack = redactUrls(out.stack);
  return out;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
    serializers: { err: errWithoutCredentials },
    hooks: {
      // A STORE_URL or REDIS_URL in a message keeps its user but loses its password (redact-url.ts).
      logMethod(args, method) {
        for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = redactUrls(args[i] as string);
        method.apply(this, args as Parameters<typeof method>);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
