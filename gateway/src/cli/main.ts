import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { ValidationError, validateConfig } from '../../../spec/validate.js';
import { exportConfig } from '../config/export-config.js';
import { replaceConfig } from '../config/replace-config.js';
import type { DryCompile } from '../generation/dry-compile.js';
import { openStore } from '../store/open-store.js';
import type { ConfigStore } from '../store/port.js';
import { readConfigFile } from './read-config-file.js';
import { IMPORT_OPENAPI_USAGE, ImportUsageError, importOpenApiCommand } from './import-openapi.js';
import { OpenApiImportError } from '../docs/openapi-import.js';
import { DECLARATIVE_USAGE, declarativeCommand } from './declarative.js';

const USAGE = `usage: switchboard <command>

  start                 run the gateway (as npm start, but WORKERS defaults to one per CPU)
  validate FILE         check a configuration file (JSON or YAML); names every bad field
  export [--yaml]       print the configuration in the store (no secrets)
  import FILE           replace the configuration in the store atomically (all or nothing)
  ${IMPORT_OPENAPI_USAGE}
  ${DECLARATIVE_USAGE}

validate, export and import use the store directly: STORE_URL (default
file:./data/switchboard.json). diff and apply go through the admin API (--admin, default
http://127.0.0.1:9080) with SWITCHBOARD_TOKEN, or sign in on a terminal; \${VAR} in their
FILE is replaced from the environment.`;

/**
 * The gateway's compiler with its own stages, loaded only by the commands that save (Fastify,
 * the plugins and undici cost `validate` and `export` ≈ 0.3 s of start-up for nothing).
 */
async function withDryCompile<T>(store: ConfigStore, fn: (compiles: DryCompile) => Promise<T>): Promise<T> {
  const [{ withOfflineCompiler }, { defaultStages }] = await Promise.all([import('../node/offline-compile.js'), import('../../../plugins/index.js')]);
  return withOfflineCompiler(store, defaultStages(), fn);
}

function printValidation(err: ValidationError): void {
  process.stderr.write(`invalid configuration (${err.errors.length} problem${err.errors.length === 1 ? '' : 's'}):\n`);
  for (const e of err.errors) process.stderr.write(`  ${e.path}: ${e.message}\n`);
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      // One gateway process per CPU unless WORKERS says otherwise (npm start's default is 1).
      if (!process.env.WORKERS) process.env.WORKERS = 'auto';
      await import('../main.js');
      return -1; // keeps running
    case 'validate': {
      const file = rest[0];
      if (!file) throw new UsageError('validate needs a FILE');
      validateConfig(await readConfigFile(file));
      process.stdout.write(`${file}: valid\n`);
      return 0;
    }
    case 'export': {
      const { values } = parseArgs({ args: rest, options: { yaml: { type: 'boolean', default: false } } });
      const store = await openStore();
      try {
        const config = exportConfig(await store.read());
        process.stdout.write(values.yaml ? toYaml(config) : JSON.stringify(config, null, 2) + '\n');
      } finally {
        await store.close();
      }
      return 0;
    }
    case 'import': {
      const file = rest[0];
      if (!file) throw new UsageError('import needs a FILE');
      const input = await readConfigFile(file);
      const store = await openStore();
      try {
        // Dry-compiled with the gateway's own stages first: a configuration no node could run is refused.
        const state = await withDryCompile(store, (compiles) =>
          replaceConfig(store, input, `cli:${process.env.USER ?? 'unknown'}`, 'config.import', compiles),
        );
        process.stdout.write(
          `imported ${file}: revision ${state.revision} (${state.upstreams.length} upstreams, ${state.routes.length} routes, ${state.consumers.length} consumers)\n`,
        );
      } finally {
        await store.close();
      }
      return 0;
    }
    case 'diff':
    case 'apply':
      // Own exit codes (0 no change, 2 changes, 1 error), usage errors included.
      return declarativeCommand(command, rest, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
    case 'import-openapi':
      // Dry-compiled like `import`: routes no node could run are refused before anything is saved.
      return importOpenApiCommand(rest, () => openStore(), withDryCompile);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ValidationError) printValidation(err);
    else if (err instanceof OpenApiImportError) process.stderr.write(`switchboard: ${err.message}\nnothing was saved\n`);
    else if (err instanceof UsageError || err instanceof ImportUsageError) process.stderr.write(`switchboard: ${err.message}\n\n${USAGE}\n`);
    else process.stderr.write(`switchboard: ${(err as Error).message}\n`);
    process.exitCode = err instanceof UsageError || err instanceof ImportUsageError ? 2 : 1;
  },
);
