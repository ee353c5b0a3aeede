/**
 * Credentials out of every URL the gateway prints or logs: `mongodb://user:secret@host/db` →
 * `mongodb://user:***@host/db`. The start-up banner, start-up failures and log lines all pass
 * through here, so a STORE_URL or REDIS_URL password never lands in stdout or container logs.
 *
 * Regular expressions rather than `new URL()`: MongoDB's multi-host form (`h1:27017,h2:27017`)
 * and a password with an unescaped `@` are not WHATWG URLs, and a URL that fails to parse must
 * still be masked, not printed as it is.
 */

/** scheme://userinfo@ — userinfo runs to the LAST "@" before the path, so "p@ss" is covered. */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s/?#"'<>]*)@/gi;
/** Query parameters that carry secrets (MongoDB's authMechanismProperties holds AWS session tokens). */
const SECRET_PARAM = /([?&;](?:[a-z0-9_.-]*(?:pass|secret|token|key)[a-z0-9_.-]*|authMechanismProperties)=)([^&#\s"']*)/gi;

function maskUserinfo(_match: string, scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  // "user:password" keeps the user (operators need it to tell accounts apart); a lone userinfo
  // may itself be a token (redis://TOKEN@host), so it goes entirely.
  return colon === -1 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
}

/** One URL with its credentials masked; anything else unchanged. */
export function redactUrl(url: string): string {
  return url.replace(USERINFO, maskUserinfo).replace(SECRET_PARAM, (_m, name: string) => `${name}***`);
}

/** Every URL inside a longer text (an error message, a stack trace) masked. */
export function redactUrls(text: string): string {
  // The common case, a log message without a URL in it, costs one scan.
  if (!text.includes('://')) return text;
  return redactUrl(text);
}
