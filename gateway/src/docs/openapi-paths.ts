/** One path parameter of a route pattern as OpenAPI names it. */
export interface PathParameter {
  name: string;
  /** A find-my-way regex constraint (`:id(^\\d+$)`), as a JSON Schema pattern. */
  pattern?: string | undefined;
  /** The trailing `*` of a prefix route: the rest of the path, slashes included. */
  wildcard?: boolean | undefined;
}

export interface OpenApiPath {
  template: string;
  parameters: PathParameter[];
}

/** What a route's trailing `/*` is called in the document (Kong and APISIX docs call it the same). */
export const WILDCARD_PARAMETER = 'path';

/**
 * A find-my-way route pattern (the contract's `paths`) as an OpenAPI path template
 * (OpenAPI 3.1 §4.8.8, "Path Templating"): `:name` → `{name}`, `:name(regex)` → `{name}` with
 * the regex as its pattern, `::` → a literal colon, a trailing `*` → `{path}`. The parsing
 * follows find-my-way's own: a parameter name ends at `(`, `-`, `.` or `/`.
 */
export function toOpenApiPath(pattern: string): OpenApiPath {
  const parameters: PathParameter[] = [];
  let template = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === ':' && pattern[i + 1] === ':') {
      template += ':';
      i++;
      continue;
    }
    if (c === ':') {
      let j = i + 1;
      while (j < pattern.length && !'(-./'.includes(pattern[j]!)) j++;
      const name = pattern.slice(i + 1, j);
      let regex: string | undefined;
      if (pattern[j] === '(') {
        const end = closingParenthesis(pattern, j);
        regex = pattern.slice(j + 1, end);
        j = end + 1;
      }
      parameters.push({ name, ...(regex !== undefined ? { pattern: anchored(regex) } : {}) });
      template += `{${name}}`;
      i = j - 1;
      continue;
    }
    if (c === '*' && i === pattern.length - 1) {
      const name = parameters.some((p) => p.name === WILDCARD_PARAMETER) ? 'rest' : WILDCARD_PARAMETER;
      parameters.push({ name, wildcard: true });
      template += `{${name}}`;
      continue;
    }
    template += c;
  }
  return { template, parameters };
}

/** An OpenAPI path template as a find-my-way pattern: `{name}` → `:name`; a literal colon doubled. */
export function toRoutePattern(template: string): string {
  return template.replace(/:/g, '::').replace(/\{([^{}/]+)\}/g, ':$1');
}

function closingParenthesis(pattern: string, open: number): number {
  let depth = 0;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === '\\') {
      i++;
      continue;
    }
    if (pattern[i] === '(') depth++;
    else if (pattern[i] === ')' && --depth === 0) return i;
  }
  return pattern.length - 1;
}

/** find-my-way matches a parameter's regex against the whole parameter; say so in the pattern. */
function anchored(regex: string): string {
  return `${regex.startsWith('^') ? '' : '^'}${regex}${regex.endsWith('$') ? '' : '$'}`;
}
