import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import module from 'node:module';
import { dirname, join, relative } from 'node:path';

/**
 * dependency-cruiser reads TypeScript through the `typescript` package, and only below
 * version 7; this repository compiles with TypeScript 7, which has no such API. So the layer
 * check cruises a mirror: every source file with its types stripped by Node's own stripper
 * (module.stripTypeScriptTypes, the one `node --experimental-strip-types` uses), written as .js
 * beside the same relative paths. Type-only imports are turned into value imports first, and a
 * type written as `import('…').Name` leaves an import behind, so a dependency that exists only
 * in types still counts: layering is about what a file knows, not what it loads.
 */
export async function mirrorSources(root: string, dirs: readonly string[], into: string): Promise<number> {
  // The stripper is marked experimental on Node 22 and 24; its warning would only be noise here.
  const strip = (module as unknown as { stripTypeScriptTypes(code: string, options: { mode: 'transform' }): string }).stripTypeScriptTypes;
  let count = 0;
  for (const dir of dirs)
    for (const file of await listTs(join(root, dir))) {
      const source = await readFile(file, 'utf8');
      const out = join(into, relative(root, file)).replace(/\.ts$/, '.js');
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, strip(keepTypeImports(source), { mode: 'transform' }) + typeReferences(source));
      count++;
    }
  return count;
}

/** `import type {A} from` → `import {A} from`; `{ type A, b }` → `{ A, b }` (export … from alike). */
export function keepTypeImports(source: string): string {
  return source
    .replace(/\bimport\s+type\s+(?=[{*]|\w+\s+from\b)/g, 'import ')
    .replace(/\bexport\s+type\s+(?=[{*])/g, 'export ')
    .replace(
    /\b(import|export)(\s*\{)([^}]*)(\}\s*from\s*['"])/g,
    (_m, kw: string, open: string, names: string, close: string) => kw + open + names.replace(/(^|,)(\s*)type\s+/g, '$1$2') + close,
  );
}

/** `import('../x.js').Name` in a type position becomes a bare `import '../x.js';` at the end. */
function typeReferences(source: string): string {
  const specs = new Set<string>();
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)\s*\./g)) specs.add(m[1]!);
  return [...specs].map((s) => `\nimport '${s}';`).join('');
}

async function listTs(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listTs(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) found.push(path);
  }
  return found;
}
