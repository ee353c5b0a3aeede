import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readTracingSettings } from '../../gateway/src/tracing/tracing-settings.js';

test('tracing is off unless an OTLP endpoint is named, and off when OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none say so', () => {
  assert.equal(readTracingSettings({}), undefined);
  assert.equal(readTracingSettings({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' }), undefined);
  assert.equal(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), undefined);
  assert.equal(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }), undefined);
});

test('the base endpoint gets /v1/traces appended once; the traces endpoint is used as given', () => {
  assert.equal(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })!.url, 'http://collector:4318/v1/traces');
  assert.equal(readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/base/' })!.url, 'http://collector:4318/base/v1/traces');
  const specific = readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:1', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b/otlp/traces' });
  assert.equal(specific!.url, 'https://b/otlp/traces');
});

test('defaults follow the OpenTelemetry spec: parentbased_always_on, and the service is "switchboard" unless named', () => {
  const s = readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })!;
  assert.equal(s.sampler, 'parentbased_always_on');
  assert.equal(s.serviceName, 'switchboard');
  const r = readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SERVICE_NAME: 'edge-eu', OTEL_TRACES_SAMPLER: 'ParentBased_TraceIdRatio', OTEL_TRACES_SAMPLER_ARG: '0.25' })!;
  assert.deepEqual([r.serviceName, r.sampler, r.ratio], ['edge-eu', 'parentbased_traceidratio', 0.25]);
});

test('a setting the gateway would read differently than meant stops the start, naming the variable', () => {
  const base = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
  assert.throws(() => readTracingSettings({ ...base, OTEL_TRACES_SAMPLER: 'sometimes' }), /OTEL_TRACES_SAMPLER must be one of/);
  assert.throws(() => readTracingSettings({ ...base, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }), /OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/);
  assert.throws(() => readTracingSettings({ ...base, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'half' }), /OTEL_TRACES_SAMPLER_ARG/);
  assert.throws(() => readTracingSettings({ ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /OTEL_EXPORTER_OTLP_PROTOCOL must be "http\/json"/);
  assert.throws(() => readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT must be an http/);
  assert.throws(() => readTracingSettings({ ...base, OTEL_TRACES_EXPORTER: 'zipkin' }), /OTEL_TRACES_EXPORTER/);
});
