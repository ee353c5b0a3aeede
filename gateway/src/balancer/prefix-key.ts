/**
 * The prefix-affinity key of one inference request: the leading `prefixChars` characters of what
 * the model reads first — the chat messages in order (role and content), or the completion
 * prompt. Requests that share that much of their prompt (one system prompt, one conversation so
 * far) share a key, so they can go where the model server already holds the prefix in its KV
 * cache (vLLM's automatic prefix caching, SGLang's RadixAttention reuse the leading blocks only).
 *
 * Undefined when the body is not JSON or names neither `messages` nor `prompt`: the picker then
 * falls back to least-queue. The body was read by the proxy within the route's bodyLimit.
 */
export function prefixKeyOf(body: Buffer, prefixChars: number): string | undefined {
  if (body.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { messages, prompt } = parsed as { messages?: unknown; prompt?: unknown };
  if (Array.isArray(messages)) {
    let key = '';
    for (const message of messages) {
      if (typeof message !== 'object' || message === null) continue;
      const { role, content } = message as { role?: unknown; content?: unknown };
      // Separators that JSON text cannot contain unescaped, so "ab"+"c" and "a"+"bc" differ.
      key += `${typeof role === 'string' ? role : ''}\u0001${typeof content === 'string' ? content : JSON.stringify(content ?? '')}\u0002`;
      if (key.length >= prefixChars) break;
    }
    return key === '' ? undefined : key.slice(0, prefixChars);
  }
  const text = typeof prompt === 'string' ? prompt : Array.isArray(prompt) && typeof prompt[0] === 'string' ? prompt[0] : undefined;
  return text === undefined || text === '' ? undefined : text.slice(0, prefixChars);
}
