import { compileSchemaValidatorsCode } from '@rjsf/validator-ajv8/compileSchemaValidators';
import type { Plugin } from 'vite';
import { SCHEMAS, type Kind } from './src/schemas.ts';

/** `import fns from 'virtual:form-validators/routes'`: the routes form's validators, compiled at build time. */
const PREFIX = 'virtual:form-validators/';
const RESOLVED = `\0${PREFIX}`;

/**
 * The forms validate with ajv, and ajv compiles a schema into a function with `new Function` —
 * which a Content-Security-Policy without 'unsafe-eval' forbids. This plugin compiles the forms'
 * schemas (the very SCHEMAS the console draws, so rjsf's schema hashes match) into plain code at
 * build time, as rjsf's precompiled validators are meant to be used, and the page runs no eval.
 *
 * ajv's standalone output is CommonJS: `exports["<schema hash>"] = validateN` and `require()` of
 * ajv's runtime helpers. The hashes are not identifiers, so ajv's ESM mode refuses them; the
 * module is turned into ESM here instead: each require a namespace import (the helpers are
 * CommonJS marked `__esModule`, and the code reads `.default` or a named export of them, which
 * the namespace holds) and the exports one default object.
 */
export function formValidators(): Plugin {
  return {
    name: 'switchboard-form-validators',
    resolveId(id) {
      return id.startsWith(PREFIX) ? `\0${id}` : undefined;
    },
    load(id) {
      if (!id.startsWith(RESOLVED)) return undefined;
      const kind = id.slice(RESOLVED.length) as Kind;
      const schema = SCHEMAS[kind];
      if (schema === undefined) throw new Error(`form-validators: no form schema for "${kind}"`);
      // allErrors, as the server's ajv: every bad field is named at once.
      return toEsm(compileSchemaValidatorsCode(schema, { ajvOptionsOverrides: { allErrors: true } }));
    },
  };
}

export function toEsm(commonJs: string): string {
  const imports = new Map<string, string>();
  let body = commonJs.replace(/^"use strict";/, '').replace(/require\(("[^"]+")\)/g, (_match, specifier: string) => {
    let name = imports.get(specifier);
    if (name === undefined) imports.set(specifier, (name = `__runtime${imports.size}`));
    return name;
  });
  body = body.replace(/\bexports\[/g, '__validators[');
  if (/\b(module\.exports|exports\.|require\()/.test(body)) throw new Error('form-validators: ajv emitted CommonJS this plugin does not convert');
  const head = [...imports].map(([specifier, name]) => `import * as ${name} from ${specifier};`).join('\n');
  return `${head}\nconst __validators = {};\n${body}\nexport default __validators;\n`;
}
