import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';

/**
 * Read a configuration file as JSON or YAML (by extension, else by trying JSON first).
 * `transform` sees the text before parsing (`switchboard diff|apply` substitute `${VAR}`).
 */
export async function readConfigFile(path: string, transform?: (text: string) => string): Promise<unknown> {
  const raw = path === '-' ? await readStdin() : await readFile(path, 'utf8');
  const text = transform ? transform(raw) : raw;
  if (/\.ya?ml$/i.test(path)) return parseYaml(text);
  try {
    return JSON.parse(text);
  } catch (jsonError) {
    if (/\.json$/i.test(path)) throw new Error(`${path} is not valid JSON: ${(jsonError as Error).message}`);
    return parseYaml(text);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
