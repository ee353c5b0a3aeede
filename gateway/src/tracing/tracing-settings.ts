/**
 * OpenTelemetry's standard environment (the SDK configuration spec's names), read once at start.
 * Tracing is on only when an OTLP endpoint is named; a value the gateway would read differently
 * than meant (an unknown sampler, a ratio outside [0, 1], a protocol it does not speak) stops
 * the start with a message naming the variable, rather than tracing something else quietly.
 */
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

const SAMPLERS: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

export interface TracingSettings {
  /** Where spans are POSTed (OTLP/HTTP JSON): the traces endpoint as given, or the base + /v1/traces. */
  url: string;
  serviceName: string;
  sampler: SamplerName;
  /** The ratio for the *traceidratio samplers. */
  ratio: number;
}

function httpUrl(name: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} must be an http:// or https:// URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${name} must be an http:// or https:// URL, got "${raw}"`);
  return url;
}

/** The traces URL, or undefined when no OTLP endpoint is set (tracing off). */
function tracesUrl(env: NodeJS.ProcessEnv): string | undefined {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (specific) return httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', specific).href;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return undefined;
  const url = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base);
  // The spec: the signal path is appended to the base endpoint, after exactly one slash.
  return url.href.replace(/\/*$/, '') + '/v1/traces';
}

export function readTracingSettings(env: NodeJS.ProcessEnv = process.env): TracingSettings | undefined {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return undefined;
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  if (exporter === 'none') return undefined;
  if (exporter !== '' && exporter !== 'otlp') throw new Error(`OTEL_TRACES_EXPORTER must be "otlp" or "none", got "${env.OTEL_TRACES_EXPORTER}"`);
  const url = tracesUrl(env);
  if (url === undefined) return undefined;
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const protocol = env[name]?.trim();
    if (protocol && protocol !== 'http/json')
      throw new Error(`${name} must be "http/json" (the gateway exports OTLP/HTTP with JSON bodies), got "${protocol}"`);
  }
  const rawSampler = (env.OTEL_TRACES_SAMPLER ?? '').trim().toLowerCase();
  const sampler = (rawSampler || 'parentbased_always_on') as SamplerName;
  if (!SAMPLERS.includes(sampler)) throw new Error(`OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(', ')}; got "${env.OTEL_TRACES_SAMPLER}"`);
  let ratio = 1;
  const rawArg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (rawArg && sampler.endsWith('traceidratio')) {
    ratio = Number(rawArg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new Error(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 for ${sampler}, got "${rawArg}"`);
  }
  return { url, serviceName: env.OTEL_SERVICE_NAME?.trim() || 'switchboard', sampler, ratio };
}
