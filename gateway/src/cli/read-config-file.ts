import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';

/** Read a configuration file as JSON or YAML (by extension, else by trying JSON first). */
export async function readConfigFile(path: string): Promise<unknown> {
  const text = path === '-' ? await readStdin() : await readFile(path, 'utf8');
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
