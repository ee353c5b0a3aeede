/**
 * The inference benchmark's load generator (a child process of inference-bench.ts, so the
 * client's event loop is not the balancer's): open-loop Poisson arrivals, one or more flows.
 *
 * `chat` flows are multi-turn conversations: each conversation has one of the system prompts,
 * sends its whole history plus a new user message with `stream: true` and an `x-session-id`
 * header, and appends the streamed answer to its history; after `maxTurns` it starts over as a
 * new session. An arrival takes an idle conversation at random (a user who has read the last
 * answer), or any conversation when all are waiting. `simple` flows send one short prompt.
 *
 * Prints one JSON line: per flow, answers by status, TTFT and latency percentiles over the
 * requests that arrived in the measured window, and completion tokens per second.
 */
import { Agent, request } from 'undici';
import { percentile } from './percentiles.js';

export interface InferenceFlow {
  name: string;
  /** Requests per second (Poisson). */
  rate: number;
  mode: 'chat' | 'simple';
  /** Sent as x-api-key when set. */
  apiKey?: string;
}

export interface InferenceClientOptions {
  url: string;
  flows: InferenceFlow[];
  warmupSeconds: number;
  seconds: number;
  seed: number;
  conversations: number;
  systemPrompts: string[];
  maxTurns: number;
  maxTokens: number;
  requestTimeoutMs: number;
  /** After the window, how long to wait for answers still streaming. */
  drainTimeoutMs: number;
}

export interface FlowResult {
  name: string;
  sent: number;
  ok: number;
  /** Answers by status other than 200. */
  refused: Record<string, number>;
  /** Refusals that carried Retry-After. */
  retryAfter: number;
  errors: number;
  /** Sent but not answered when the client gave up (must be 0). */
  unanswered: number;
  ttftP50Ms: number;
  ttftP99Ms: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  tokensPerSecond: number;
}

export interface InferenceClientResult {
  flows: FlowResult[];
}

/** mulberry32: a seedable generator, so every contender sees the same arrivals and choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Message {
  role: string;
  content: string;
}

interface Conversation {
  system: string;
  history: Message[];
  turn: number;
  session: number;
  busy: boolean;
}

interface Sample {
  measured: boolean;
  status: number;
  ttftMs: number | undefined;
  latencyMs: number;
  tokens: number;
  retryAfter: boolean;
  error: boolean;
}

const USER_LINES = [
  'Please summarise what the previous answer means for the deployment.',
  'Could you give one more example, with numbers this time?',
  'How would this change if the traffic doubled overnight?',
  'List the risks you see, most serious first.',
  'What should the on-call engineer check first?',
];

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as InferenceClientOptions;
  const random = prng(options.seed);
  const agent = new Agent({ connections: 2048, keepAliveTimeout: 30_000 });
  const conversations: Conversation[] = Array.from({ length: options.conversations }, (_, i) => ({
    system: options.systemPrompts[i % options.systemPrompts.length]!,
    history: [],
    turn: 0,
    session: i,
    busy: false,
  }));
  let nextSession = options.conversations;
  const samples = new Map<string, Sample[]>(options.flows.map((f) => [f.name, []]));
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const windowStart = start + options.warmupSeconds * 1000;
  const windowEnd = windowStart + options.seconds * 1000;

  const send = (flow: InferenceFlow, at: number): void => {
    let conversation: Conversation | undefined;
    let messages: Message[];
    let user = '';
    if (flow.mode === 'chat') {
      const idle = conversations.filter((c) => !c.busy);
      const from = idle.length > 0 ? idle : conversations;
      conversation = from[Math.floor(random() * from.length)]!;
      conversation.busy = true;
      user = `${USER_LINES[Math.floor(random() * USER_LINES.length)]} (turn ${conversation.turn + 1} of session ${conversation.session})`;
      messages = [{ role: 'system', content: conversation.system }, ...conversation.history, { role: 'user', content: user }];
    } else messages = [{ role: 'user', content: `A short question from ${flow.name}.` }];
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (conversation) headers['x-session-id'] = `session-${conversation.session}`;
    if (flow.apiKey) headers['x-api-key'] = flow.apiKey;
    const body = JSON.stringify({ model: 'sim-llm', max_tokens: options.maxTokens, stream: flow.mode === 'chat', messages });
    const sample: Sample = { measured: at >= windowStart && at < windowEnd, status: 0, ttftMs: undefined, latencyMs: 0, tokens: 0, retryAfter: false, error: false };
    samples.get(flow.name)!.push(sample);
    const job = (async () => {
      let answer = '';
      try {
        const res = await request(options.url, {
          method: 'POST',
          dispatcher: agent,
          headers,
          body,
          headersTimeout: options.requestTimeoutMs,
          bodyTimeout: options.requestTimeoutMs,
        });
        sample.status = res.statusCode;
        sample.retryAfter = res.headers['retry-after'] !== undefined;
        if (res.statusCode === 200 && flow.mode === 'chat') {
          let tail = '';
          for await (const chunk of res.body) {
            const text = tail + String(chunk);
            const events = text.split('\n\n');
            tail = events.pop() ?? '';
            for (const event of events) {
              const match = /"content":"((?:[^"\\]|\\.)*)"/.exec(event);
              if (match === null) continue;
              if (sample.ttftMs === undefined) sample.ttftMs = performance.now() - at;
              sample.tokens++;
              answer += match[1];
            }
          }
        } else {
          const text = await res.body.text();
          if (res.statusCode === 200) {
            sample.ttftMs = performance.now() - at;
            sample.tokens = (JSON.parse(text) as { usage?: { completion_tokens?: number } }).usage?.completion_tokens ?? 0;
          }
        }
      } catch {
        sample.error = true;
      }
      sample.latencyMs = performance.now() - at;
      if (conversation) {
        conversation.busy = false;
        if (sample.status === 200) {
          conversation.history.push({ role: 'user', content: user }, { role: 'assistant', content: answer });
          conversation.turn++;
          if (conversation.turn >= options.maxTurns) Object.assign(conversation, { history: [], turn: 0, session: nextSession++ });
        }
      }
    })();
    pending.add(job);
    void job.finally(() => pending.delete(job));
  };

  // One schedule per flow, merged: each flow's gaps are exponential (Poisson arrivals).
  const due = options.flows.map((f) => start - (Math.log(1 - random()) / f.rate) * 1000);
  for (;;) {
    let i = 0;
    for (let k = 1; k < due.length; k++) if (due[k]! < due[i]!) i = k;
    const at = due[i]!;
    if (at >= windowEnd) break;
    const wait = at - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    send(options.flows[i]!, Math.max(at, performance.now() - 1));
    due[i] = at - (Math.log(1 - random()) / options.flows[i]!.rate) * 1000;
  }
  const drained = Promise.all([...pending]).then(() => true);
  const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), options.drainTimeoutMs).unref());
  await Promise.race([drained, timedOut]);

  const flows: FlowResult[] = options.flows.map((flow) => {
    const all = samples.get(flow.name)!;
    const measured = all.filter((s) => s.measured);
    const done = measured.filter((s) => s.latencyMs > 0);
    const ok = done.filter((s) => s.status === 200);
    const refused: Record<string, number> = {};
    for (const s of done) if (s.status !== 200 && !s.error) refused[s.status] = (refused[s.status] ?? 0) + 1;
    const ttft = Float64Array.from(ok.map((s) => s.ttftMs ?? s.latencyMs)).sort();
    const latency = Float64Array.from(ok.map((s) => s.latencyMs)).sort();
    return {
      name: flow.name,
      sent: measured.length,
      ok: ok.length,
      refused,
      retryAfter: done.filter((s) => s.status !== 200 && s.retryAfter).length,
      errors: done.filter((s) => s.error).length,
      unanswered: measured.length - done.length,
      ttftP50Ms: percentile(ttft, 0.5),
      ttftP99Ms: percentile(ttft, 0.99),
      latencyP50Ms: percentile(latency, 0.5),
      latencyP99Ms: percentile(latency, 0.99),
      tokensPerSecond: ok.reduce((sum, s) => sum + s.tokens, 0) / options.seconds,
    };
  });
  process.stdout.write(`${JSON.stringify({ flows } satisfies InferenceClientResult)}\n`);
  await agent.destroy();
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`inference client: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
