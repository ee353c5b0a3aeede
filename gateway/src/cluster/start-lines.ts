import type { GatewayEnv } from '../env.js';
import { redactUrl } from '../redact-url.js';
import type { TracingSettings } from '../tracing/tracing-settings.js';
import type { ReadyInfo } from './messages.js';

/** The lines an operator reads at start; worker 1's report holds the admin listener. */
export function printStarted(env: GatewayEnv, tracing: TracingSettings | undefined, ready: readonly ReadyInfo[], demoKey: string | undefined): void {
  const first = ready.find((r) => r.admin) ?? ready[0]!;
  const admin = first.admin!;
  const publicUrl = `http://127.0.0.1:${first.port}`;
  const lines = [
    '',
    'Switchboard is running',
    `  partner traffic   ${publicUrl}   (listening on ${env.host}:${first.port})`,
    `  partner docs      ${publicUrl}/docs   OpenAPI ${publicUrl}/docs/openapi.json`,
    ...edgeLines(env, first),
    `  admin console     ${admin.url}/   API ${admin.url}/api/v1   metrics ${admin.url}/metrics`,
    `  store             ${redactUrl(env.storeUrl)}   revision ${first.revision}`,
  ];
  if (ready.length > 1) lines.push(`  workers           ${ready.length} processes (pids ${ready.map((r) => r.pid).join(', ')}), primary ${process.pid}`);
  if (env.redisUrl) lines.push(`  rate-limit redis  ${redactUrl(env.redisUrl)}`);
  if (tracing) lines.push(`  tracing (OTLP)    ${redactUrl(tracing.url)}   service ${tracing.serviceName}, sampler ${tracing.sampler}`);
  if (admin.initialPassword) lines.push(`  admin login       ${admin.initialEmail} / ${admin.initialPassword}   (shown once; change it)`);
  if (demoKey) {
    lines.push(`  demo API key      ${demoKey}   (shown once)`);
    lines.push('', 'Try it:', `  curl -s ${publicUrl}/v1/chat/completions -H 'x-api-key: ${demoKey}' -H 'content-type: application/json' \\`);
    lines.push(`    -d '{"model":"switchboard-demo-llm","messages":[{"role":"user","content":"Hello"}],"stream":true}'`);
  }
  process.stdout.write(lines.join('\n') + '\n\n');
}

/** The TLS listener's line (when TLS_PORT is set) and h2c's; a URL only where one answers without an SNI. */
function edgeLines(env: GatewayEnv, first: ReadyInfo): string[] {
  const lines: string[] = [];
  const { edge } = env;
  if (first.tlsPort !== undefined) {
    const bind = `${edge.tlsHost ?? env.host}:${first.tlsPort}`;
    const hasDefault = edge.tlsCertFile !== undefined || edge.defaultCertificate !== undefined;
    lines.push(
      hasDefault
        ? `  partner TLS       https://127.0.0.1:${first.tlsPort}   (HTTP/2 and HTTP/1.1; listening on ${bind})`
        : `  partner TLS       listening on ${bind}: HTTP/2 and HTTP/1.1 for server names a stored certificate claims (no TLS_CERT_FILE default)`,
    );
  }
  if (edge.h2c) lines.push(`  h2c               prior-knowledge HTTP/2 on the plain port too (H2C=1)`);
  if (edge.proxyProtocol) lines.push(`  PROXY protocol    required from TRUSTED_PROXIES (${env.trustedProxies.join(', ') || 'none set: every PROXY header is refused'})`);
  return lines;
}

