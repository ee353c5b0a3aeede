/** A `${NAME}` the environment does not define, or a malformed `${…}`; names each one and where. */
export class EnvSubstitutionError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.join('; ')}`);
    this.name = 'EnvSubstitutionError';
  }
}

const REFERENCE = /\$\$\{|\$\{([^}\n]*)\}?/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `${NAME}` → the variable's value, in the file's text before it is parsed (as decK and
 * envsubst do, so `timeoutMs: ${TIMEOUT}` becomes a number in YAML). `$${` writes a literal
 * `${`. An unset variable is an error naming it and its line, never an empty string: an empty
 * secret or URL would be saved without a word. Set-but-empty is a value.
 */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv, source: string): string {
  const problems: string[] = [];
  const result = text.replace(REFERENCE, (match, name: string | undefined, offset: number) => {
    if (match === '$${') return '${';
    const line = text.slice(0, offset).split('\n').length;
    if (!match.endsWith('}')) {
      problems.push(`line ${line}: "\${" without a closing "}"`);
      return match;
    }
    if (!NAME.test(name!)) {
      problems.push(`line ${line}: "\${${name}}" is not a variable name (letters, digits, _)`);
      return match;
    }
    const value = env[name!];
    if (value === undefined) {
      problems.push(`line ${line}: environment variable ${name} is not set`);
      return match;
    }
    return value;
  });
  if (problems.length > 0) throw new EnvSubstitutionError(source, problems);
  return result;
}
