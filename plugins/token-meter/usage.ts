/**
 * Reading a worker's `usage` object (OpenAI's shape, which vLLM, TGI's OpenAI API and SGLang
 * copy): `prompt_tokens` and `completion_tokens`, non-negative integers. Anything else — a string
 * count, a negative one, a missing field, prompt + completion ≠ total_tokens when total is given
 * — is malformed: metered as unknown, never guessed at and never billed.
 */
export interface TokenUsage {
  prompt: number;
  completion: number;
  /** The answer's `model`, when it says. */
  model: string | undefined;
}

export type UsageReading = TokenUsage | 'malformed' | undefined;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** `body` is a parsed answer or stream chunk; undefined when it carries no usage at all. */
export function readUsage(body: unknown): UsageReading {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'malformed';
  const record = body as Record<string, unknown>;
  const usage = record['usage'];
  if (usage === undefined || usage === null) return undefined;
  if (typeof usage !== 'object' || Array.isArray(usage)) return 'malformed';
  const u = usage as Record<string, unknown>;
  const prompt = u['prompt_tokens'];
  const completion = u['completion_tokens'] ?? 0;
  if (!isCount(prompt) || !isCount(completion)) return 'malformed';
  const total = u['total_tokens'];
  if (total !== undefined && (!isCount(total) || total !== prompt + completion)) return 'malformed';
  const model = typeof record['model'] === 'string' && record['model'] !== '' ? record['model'] : undefined;
  return { prompt, completion, model };
}

/**
 * The `usage` of a JSON answer too large to keep whole, from its last bytes: the last `"usage"`
 * key and the object after it (answers put usage last; a key inside a string would be escaped).
 */
export function usageFromTail(tail: string, headModel?: string): UsageReading {
  const at = tail.lastIndexOf('"usage"');
  if (at < 0) return undefined;
  const open = tail.indexOf('{', at);
  if (open < 0) return 'malformed';
  let depth = 0;
  for (let i = open; i < tail.length; i++) {
    const c = tail.charCodeAt(i);
    if (c === 123) depth++;
    else if (c === 125 && --depth === 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(tail.slice(open, i + 1));
      } catch {
        return 'malformed';
      }
      const model = /"model"\s*:\s*"([^"\\]{1,200})"/.exec(tail)?.[1] ?? headModel;
      const reading = readUsage({ usage: parsed, model });
      return reading === undefined ? 'malformed' : reading;
    }
  }
  return 'malformed';
}
