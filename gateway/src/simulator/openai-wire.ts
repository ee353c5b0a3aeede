/**
 * The OpenAI wire format as the simulated worker speaks it: reading an inference request and
 * writing completions, stream chunks and errors. Field names and shapes follow the OpenAI API
 * reference (and vLLM's server, which copies it), so clients and the gateway see what a real
 * model server would send.
 */

import { randomUUID } from 'node:crypto';

export type InferenceKind = 'chat' | 'completion';

/** What the simulator needs from a request body; everything else in it is ignored. */
export interface InferenceRequest {
  readonly kind: InferenceKind;
  readonly maxTokens: number;
  /** Whether the client set the token limit (decides finish_reason "length" vs "stop"). */
  readonly explicitLimit: boolean;
  readonly stream: boolean;
  /** `stream_options.include_usage`: one more chunk with `usage` before `[DONE]`. */
  readonly includeUsage: boolean;
  /** vLLM's `stream_options.continuous_usage_stats` (with include_usage): every chunk carries the usage so far. */
  readonly continuousUsage: boolean;
  readonly promptTokens: number;
  /** What the model reads, in order (the messages' JSON, or the prompt): what a prefix cache keys on. */
  readonly promptText: string;
}

/** A request the worker refuses with 400, in OpenAI's words. */
export class InvalidRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

// Generous but finite: a typo like max_tokens=1e9 must not pin a slot for days.
const MAX_TOKENS_LIMIT = 100_000;

export function parseInferenceRequest(kind: InferenceKind, raw: string, defaultMaxTokens: number): InferenceRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (error) {
    throw new InvalidRequest(`We could not parse the JSON body of your request. (${(error as Error).message})`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequest('The request body must be a JSON object.');
  }
  const fields = body as Record<string, unknown>;
  // Chat's newer name wins, as in the OpenAI API where max_tokens is the deprecated alias.
  const tokenField = kind === 'chat' && fields['max_completion_tokens'] !== undefined ? 'max_completion_tokens' : 'max_tokens';
  const requested = fields[tokenField];
  let maxTokens = defaultMaxTokens;
  const explicitLimit = requested !== undefined && requested !== null;
  if (explicitLimit) {
    if (typeof requested !== 'number' || !Number.isInteger(requested) || requested < 0 || requested > MAX_TOKENS_LIMIT) {
      throw new InvalidRequest(`${tokenField} must be an integer between 0 and ${MAX_TOKENS_LIMIT}.`, tokenField);
    }
    maxTokens = requested;
  }
  const stream = fields['stream'];
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') {
    throw new InvalidRequest('stream must be a boolean.', 'stream');
  }
  if (kind === 'chat' && fields['messages'] !== undefined && !Array.isArray(fields['messages'])) {
    throw new InvalidRequest('messages must be an array.', 'messages');
  }
  const streamOptions = fields['stream_options'];
  const options = typeof streamOptions === 'object' && streamOptions !== null ? (streamOptions as Record<string, unknown>) : {};
  const includeUsage = options['include_usage'] === true;
  const promptText = kind === 'chat' ? JSON.stringify(fields['messages'] ?? []) : JSON.stringify(fields['prompt'] ?? '');
  return {
    kind,
    maxTokens,
    explicitLimit,
    stream: stream === true,
    includeUsage,
    continuousUsage: includeUsage && options['continuous_usage_stats'] === true,
    // About four characters a token for English text: only the order of magnitude matters here.
    promptTokens: Math.max(1, Math.ceil(promptText.length / 4)),
    promptText,
  };
}

const WORDS = ['the', 'gateway', 'routes', 'each', 'request', 'to', 'a', 'healthy', 'worker', 'and', 'streams', 'its', 'answer', 'back'];

/** The n-th generated token: deterministic, so tests can compare whole answers. */
export function tokenText(index: number): string {
  return (index === 0 ? '' : ' ') + WORDS[index % WORDS.length]!;
}

export function generatedText(tokens: number): string {
  let text = '';
  for (let i = 0; i < tokens; i += 1) text += tokenText(i);
  return text;
}

/** One identity per answer; every chunk of a stream repeats it, as OpenAI's do. */
export interface AnswerIdentity {
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly kind: InferenceKind;
}

export function newAnswerIdentity(kind: InferenceKind, model: string): AnswerIdentity {
  const prefix = kind === 'chat' ? 'chatcmpl-' : 'cmpl-';
  return { id: prefix + randomUUID().replaceAll('-', ''), created: Math.floor(Date.now() / 1000), model, kind };
}

/** The answer's usage: all of it, or (continuous usage stats) what `completed` tokens have cost so far. */
export function usage(request: InferenceRequest, completed = request.maxTokens): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return {
    prompt_tokens: request.promptTokens,
    completion_tokens: completed,
    total_tokens: request.promptTokens + completed,
  };
}

// The simulator always generates exactly max_tokens, which is a "length" stop when the client
// set the limit and a natural "stop" when it relied on the default.
function finishReason(request: InferenceRequest): 'length' | 'stop' {
  return request.explicitLimit ? 'length' : 'stop';
}

export function completionBody(answer: AnswerIdentity, request: InferenceRequest): object {
  const text = generatedText(request.maxTokens);
  const finish_reason = finishReason(request);
  const choice =
    answer.kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason }
      : { index: 0, text, logprobs: null, finish_reason };
  return {
    id: answer.id,
    object: answer.kind === 'chat' ? 'chat.completion' : 'text_completion',
    created: answer.created,
    model: answer.model,
    choices: [choice],
    usage: usage(request),
  };
}

/** The chunk carrying token `index`; the first chat chunk also carries the assistant role. */
export function tokenChunk(answer: AnswerIdentity, index: number): object {
  const choice =
    answer.kind === 'chat'
      ? { index: 0, delta: index === 0 ? { role: 'assistant', content: tokenText(index) } : { content: tokenText(index) }, logprobs: null, finish_reason: null }
      : { index: 0, text: tokenText(index), logprobs: null, finish_reason: null };
  return chunkEnvelope(answer, [choice]);
}

/** The closing chunk: no new text, only why generation stopped. */
export function finishChunk(answer: AnswerIdentity, request: InferenceRequest): object {
  const finish_reason = finishReason(request);
  const choice =
    answer.kind === 'chat'
      ? { index: 0, delta: {}, logprobs: null, finish_reason }
      : { index: 0, text: '', logprobs: null, finish_reason };
  return chunkEnvelope(answer, [choice]);
}

/** `stream_options.include_usage`: OpenAI sends usage in a last chunk with empty choices. */
export function usageChunk(answer: AnswerIdentity, request: InferenceRequest): object {
  return { ...chunkEnvelope(answer, []), usage: usage(request) };
}

function chunkEnvelope(answer: AnswerIdentity, choices: object[]): object {
  return {
    id: answer.id,
    object: answer.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion',
    created: answer.created,
    model: answer.model,
    choices,
  };
}

export type ErrorType = 'invalid_request_error' | 'not_found_error' | 'server_error' | 'overloaded_error';

/** OpenAI's error envelope, which OpenAI SDKs parse to raise typed errors. */
export function errorBody(message: string, type: ErrorType, param: string | null = null): object {
  return { error: { message, type, param, code: null } };
}

export function modelObject(model: string, created: number): object {
  return { id: model, object: 'model', created, owned_by: 'switchboard-simulator' };
}
