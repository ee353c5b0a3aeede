import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

const K8S = fileURLToPath(new URL('../../../docker/k8s/', import.meta.url));

/** The Kubernetes classes of the kinds the manifests hold; any other kind fails the test. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'v1 ConfigMap': ConfigMap,
  'v1 Secret': Secret,
  'v1 Service': Service,
};

interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [field: string]: unknown;
}

async function manifests(): Promise<Array<{ file: string; doc: Doc }>> {
  const files = (await readdir(K8S)).filter((f) => f.endsWith('.yaml'));
  const out: Array<{ file: string; doc: Doc }> = [];
  for (const file of files) {
    for (const d of parseAllDocuments(await readFile(join(K8S, file), 'utf8'))) {
      assert.deepEqual(d.errors, [], `${file} is valid YAML`);
      out.push({ file, doc: d.toJS() as Doc });
    }
  }
  return out;
}

async function one(kind: string, name = 'switchboard'): Promise<Doc> {
  const found = (await manifests()).filter(({ doc }) => doc.kind === kind && doc.metadata.name === name);
  assert.equal(found.length, 1, `one ${kind} named ${name}`);
  return found[0]!.doc;
}

const millis = (env: Record<string, string>, name: string) => {
  const v = Number(env[name]);
  assert.ok(Number.isInteger(v) && v > 0, `${name} in the ConfigMap is a positive whole number`);
  return v;
};

test('every manifest validates against the Kubernetes schemas (kubernetes-models)', async () => {
  const docs = await manifests();
  const kinds = new Set(docs.map(({ doc }) => doc.kind));
  for (const kind of ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ConfigMap', 'Secret', 'NetworkPolicy']) assert.ok(kinds.has(kind), `docker/k8s has a ${kind}`);
  for (const { file, doc } of docs) {
    const Model = MODELS[`${doc.apiVersion} ${doc.kind}`];
    assert.ok(Model, `${file}: no schema known for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc as never).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`);
  }
});

test('the schema check can fail: a replica count that is not a number is refused', async () => {
  const deployment = structuredClone(await one('Deployment'));
  (deployment.spec as { replicas: unknown }).replicas = 'two';
  assert.throws(() => new Deployment(deployment as never).validate(), /replicas must be integer/);
});

test('every file in docker/k8s is a Kubernetes object, so kubectl apply -f docker/k8s/ takes the folder as it is', async () => {
  const files = (await readdir(K8S)).sort();
  assert.deepEqual(files.filter((f) => !f.endsWith('.yaml')), [], 'only .yaml files');
  const described = new Set((await manifests()).map(({ file }) => file));
  assert.deepEqual([...described].sort(), files);
});

test('the Deployment is ready on /readyz, alive on /livez, waits DRAIN_DELAY_MS before SIGTERM and gives SHUTDOWN_TIMEOUT_MS to finish', async () => {
  const deployment = new Deployment((await one('Deployment')) as never);
  const env = (await one('ConfigMap')).data as Record<string, string>;
  const pod = deployment.spec!.template.spec!;
  const gateway = pod.containers[0]!;
  const portOf = (name: unknown) => gateway.ports!.find((p) => p.name === name)?.containerPort;
  assert.equal(gateway.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(portOf(gateway.readinessProbe?.httpGet?.port), Number(env.PORT));
  assert.equal(gateway.livenessProbe?.httpGet?.path, '/livez');
  assert.equal(portOf(gateway.livenessProbe?.httpGet?.port), Number(env.PORT));
  assert.ok(gateway.envFrom?.some((e) => e.configMapRef?.name === 'switchboard'));
  assert.ok(gateway.envFrom?.some((e) => e.secretRef?.name === 'switchboard'));

  const drainMs = millis(env, 'DRAIN_DELAY_MS');
  const shutdownMs = millis(env, 'SHUTDOWN_TIMEOUT_MS');
  const preStop = gateway.lifecycle?.preStop?.exec?.command;
  assert.deepEqual(preStop, ['sleep', String(drainMs / 1000)], 'preStop sleeps DRAIN_DELAY_MS');
  // The grace period runs from the start of preStop: preStop + the in-process drain delay + the
  // shutdown timeout must fit, or Kubernetes SIGKILLs generations the gateway would let finish.
  const needed = (drainMs + drainMs + shutdownMs) / 1000;
  const grace = pod.terminationGracePeriodSeconds!;
  assert.ok(grace >= needed && grace <= needed + 30, `terminationGracePeriodSeconds ${grace} matches preStop + DRAIN_DELAY_MS + SHUTDOWN_TIMEOUT_MS = ${needed} s (+ ≤ 30 s margin)`);

  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.notEqual(pod.securityContext?.runAsUser, 0);
  assert.equal(gateway.securityContext?.allowPrivilegeEscalation, false);
});

test('the Service, HPA and PodDisruptionBudget select the Deployment and its pods', async () => {
  const deployment = await one('Deployment');
  const labels = (deployment.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
  const selects = (selector: Record<string, string> | undefined) => selector && Object.entries(selector).every(([k, v]) => labels[k] === v);
  const proxy = await one('Service');
  assert.ok(selects((proxy.spec as { selector: Record<string, string> }).selector));
  const admin = await one('Service', 'switchboard-admin');
  assert.equal((admin.spec as { type: string }).type, 'ClusterIP', 'the admin API gets no external address');
  assert.ok(selects((admin.spec as { selector: Record<string, string> }).selector));
  const hpa = await one('HorizontalPodAutoscaler');
  assert.deepEqual((hpa.spec as { scaleTargetRef: unknown }).scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'switchboard' });
  assert.ok((hpa.spec as { minReplicas: number }).minReplicas >= 2, 'at least two pods, so one can drain');
  const pdb = await one('PodDisruptionBudget');
  assert.ok(selects((pdb.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels));
});

test('the NetworkPolicy admits the admin port from inside the cluster only', async () => {
  const env = (await one('ConfigMap')).data as Record<string, string>;
  const policy = new NetworkPolicy((await one('NetworkPolicy')) as never);
  const rules = policy.spec!.ingress!;
  const admin = rules.filter((r) => r.ports?.some((p) => p.port === Number(env.ADMIN_PORT)));
  assert.ok(admin.length > 0, 'a rule names the admin port');
  for (const rule of admin) {
    assert.ok(rule.from && rule.from.length > 0, 'the admin rule names its sources');
    for (const peer of rule.from) assert.equal(peer.ipBlock, undefined, 'no address block (which could be outside the cluster)');
  }
  // No rule without ports, which would open every port (the admin one included) to anyone.
  for (const rule of rules) assert.ok(rule.ports && rule.ports.length > 0);
  const secret = await one('Secret');
  for (const name of ['STORE_URL', 'ADMIN_PASSWORD']) assert.ok((secret.stringData as Record<string, string>)[name], `the Secret carries ${name}`);
  for (const name of ['STORE_URL', 'ADMIN_PASSWORD', 'REDIS_URL']) assert.equal(env[name], undefined, `${name} is not in the ConfigMap`);
});
