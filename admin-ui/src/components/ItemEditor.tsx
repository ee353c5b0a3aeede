import Form from '@rjsf/core';
import type { ErrorSchema, RJSFValidationError } from '@rjsf/utils';
import { createPrecompiledValidator } from '@rjsf/validator-ajv8';
import certificateFns from 'virtual:form-validators/certificates';
import consumerFns from 'virtual:form-validators/consumers';
import routeFns from 'virtual:form-validators/routes';
import upstreamFns from 'virtual:form-validators/upstreams';
import userFns from 'virtual:form-validators/users';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { api, ApiError, type FieldError } from '../api';
import { content, DRY_RUN, editable, SCHEMAS, SINGULAR, STORED_FIELDS, UI_SCHEMAS, type Kind } from '../schemas';
import { useSession } from '../session';
import { DiffView } from './Diff';
import { BUTTON_TEMPLATES, OptionalDataControls } from './FormButtons';

// Compiled at build time (allErrors, as the server's ajv: every bad field is named at once,
// before anything is sent), so the console's CSP needs no 'unsafe-eval'. A precompiled
// validator serves the one schema it was compiled from: one per kind.
const VALIDATORS = {
  upstreams: createPrecompiledValidator(upstreamFns, SCHEMAS.upstreams),
  routes: createPrecompiledValidator(routeFns, SCHEMAS.routes),
  consumers: createPrecompiledValidator(consumerFns, SCHEMAS.consumers),
  users: createPrecompiledValidator(userFns, SCHEMAS.users),
  certificates: createPrecompiledValidator(certificateFns, SCHEMAS.certificates),
};

type Item = Record<string, unknown>;

/** `/paths/0` → `{ paths: { 0: { __errors: [...] } } }`: the server's field errors placed at their fields. */
export function toErrorSchema(errors: FieldError[]): ErrorSchema {
  const root: Record<string, unknown> = {};
  for (const e of errors) {
    let node = root;
    for (const part of e.path.split('/').filter(Boolean)) node = (node[part] ??= {}) as Record<string, unknown>;
    ((node.__errors ??= []) as string[]).push(e.message);
  }
  return root as ErrorSchema;
}

const textOf = (item: Item, as: 'form' | 'json' | 'yaml') => (as === 'yaml' ? toYaml(item) : JSON.stringify(item, null, 2));

/** Client-side (same schema) and server errors at their fields together. */
function mergeErrors(a: ErrorSchema, b: ErrorSchema): ErrorSchema {
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [key, value] of Object.entries(b as Record<string, unknown>)) {
    const mine = out[key];
    if (key === '__errors') out[key] = [...((mine as string[] | undefined) ?? []), ...(value as string[])];
    else out[key] = mine ? mergeErrors(mine as ErrorSchema, value as ErrorSchema) : value;
  }
  return out as ErrorSchema;
}

interface Props {
  kind: Kind;
  /** The item as read, with its ETag; undefined to create one. */
  item?: Item;
  etag?: string | null;
  onSaved(item: Item): void;
  onCancel?(): void;
}

/**
 * The one editor of every item kind: a form generated from the spec schema, raw JSON and YAML views of
 * the same data, "Validate" (the server's dry run) before "Save", Save with If-Match, field
 * errors from the server at their fields, and a 412 shown as "someone else changed it" with the
 * difference and a reload.
 */
export function ItemEditor({ kind, item, etag: initialEtag, onSaved, onCancel }: Props) {
  const { canEdit } = useSession();
  const queryClient = useQueryClient();
  const one = SINGULAR[kind];
  const [data, setData] = useState<Item>(() => (item ? editable(kind, item) : {}));
  const [etag, setEtag] = useState(initialEtag ?? null);
  const [view, setView] = useState<'form' | 'json' | 'yaml'>('form');
  const [jsonText, setJsonText] = useState('');
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [serverErrors, setServerErrors] = useState<FieldError[]>([]);
  const [clientErrors, setClientErrors] = useState<ErrorSchema>({});
  const [message, setMessage] = useState<{ tone: 'ok' | 'error'; text: string } | null>(null);
  const [validated, setValidated] = useState(false);
  const [busy, setBusy] = useState(false);
  const [conflict, setConflict] = useState<{ theirs: Item; etag: string | null } | null>(null);
  const needsDryRun = DRY_RUN.has(kind);
  const isNew = !item;

  const change = (next: Item) => {
    setData(next);
    setValidated(false);
    setMessage(null);
    // Errors speak about the data as it was validated; an edit makes them stale.
    setClientErrors({});
    setServerErrors([]);
  };

  const refuse = (err: unknown) => {
    if (err instanceof ApiError) {
      setServerErrors(err.problem.errors ?? []);
      const fields = err.problem.errors?.map((e) => `${e.path} ${e.message}`).join('; ');
      setMessage({ tone: 'error', text: `${err.message}${fields ? `: ${fields}` : ''}` });
    } else setMessage({ tone: 'error', text: String(err) });
  };

  const clientValid = (): boolean => {
    if (view !== 'form' && jsonError) {
      setMessage({ tone: 'error', text: `The ${view.toUpperCase()} does not parse: ${jsonError}` });
      return false;
    }
    const { errors, errorSchema } = VALIDATORS[kind].validateFormData(data, SCHEMAS[kind]);
    setClientErrors(errorSchema);
    if (errors.length) {
      setMessage({ tone: 'error', text: `Fix ${errors.length === 1 ? 'one field' : `${errors.length} fields`} first: ${errors.map((e: RJSFValidationError) => `${e.property ?? ''} ${e.message ?? ''}`.trim()).join('; ')}` });
      return false;
    }
    return true;
  };

  const validate = async () => {
    setServerErrors([]);
    if (!clientValid()) return;
    if (!needsDryRun) {
      setValidated(true);
      setMessage({ tone: 'ok', text: 'Valid against the schema.' });
      return;
    }
    setBusy(true);
    try {
      await api('POST', `/${kind}/validate`, { body: content(data) });
      setValidated(true);
      setMessage({ tone: 'ok', text: `Valid: the server would accept this ${one}.` });
    } catch (err) {
      refuse(err);
    } finally {
      setBusy(false);
    }
  };

  const save = async () => {
    setServerErrors([]);
    if (!clientValid()) return;
    setBusy(true);
    try {
      const answer = isNew
        ? await api<Item>('POST', `/${kind}`, { body: content(data) })
        : await api<Item>('PUT', `/${kind}/${encodeURIComponent(String(item!.id))}`, { body: data, ifMatch: etag });
      setEtag(answer.etag);
      setData(editable(kind, answer.data));
      setMessage({ tone: 'ok', text: `Saved ${one} "${String(answer.data.name ?? answer.data.email)}" (version ${String(answer.data.version)}).` });
      await queryClient.invalidateQueries({ queryKey: [kind] });
      onSaved(answer.data);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412 && !isNew) {
        const theirs = await api<Item>('GET', `/${kind}/${encodeURIComponent(String(item!.id))}`).catch(() => null);
        if (theirs) setConflict({ theirs: editable(kind, theirs.data), etag: theirs.etag });
        setMessage({ tone: 'error', text: `Someone else changed this ${one} since you opened it; nothing was saved.` });
      } else refuse(err);
    } finally {
      setBusy(false);
    }
  };

  const reload = () => {
    if (!conflict) return;
    setData(conflict.theirs);
    setEtag(conflict.etag);
    setJsonText(textOf(conflict.theirs, view));
    setConflict(null);
    setValidated(false);
    setMessage({ tone: 'ok', text: `Loaded the current version (${String(conflict.theirs.version)}); make your change again.` });
  };

  const showText = (as: 'json' | 'yaml') => {
    setJsonText(textOf(data, as));
    setJsonError(null);
    setView(as);
  };

  const editJson = (text: string) => {
    setJsonText(text);
    try {
      const parsed = (view === 'yaml' ? parseYaml(text) : JSON.parse(text)) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`a ${one} is an object (a mapping)`);
      setJsonError(null);
      change(parsed as Item);
    } catch (err) {
      setJsonError((err as Error).message);
      setValidated(false);
    }
  };

  const saveBlocked = busy || (needsDryRun && !validated);
  return (
    <section className="editor" aria-label={`${isNew ? 'New' : 'Edit'} ${one}`}>
      <div className="tabs" role="group" aria-label="View">
        <button type="button" className={view === 'form' ? 'tab active' : 'tab'} aria-pressed={view === 'form'} onClick={() => setView('form')} disabled={view !== 'form' && jsonError !== null}>
          Form
        </button>
        <button type="button" className={view === 'json' ? 'tab active' : 'tab'} aria-pressed={view === 'json'} onClick={() => showText('json')} disabled={view === 'yaml' && jsonError !== null}>
          JSON
        </button>
        <button type="button" className={view === 'yaml' ? 'tab active' : 'tab'} aria-pressed={view === 'yaml'} onClick={() => showText('yaml')} disabled={view === 'json' && jsonError !== null}>
          YAML
        </button>
      </div>
      {conflict && (
        <div className="conflict" role="alert">
          <h3>Someone else changed this {one}</h3>
          <p>
            It is at version {String(conflict.theirs.version)} now; you edited version {String(data.version)}. Their version differs from yours in:
          </p>
          <DiffView before={data} after={conflict.theirs} beforeLabel="yours" afterLabel="current" ignore={[...STORED_FIELDS].map((f) => `/${f}`)} />
          <div className="actions">
            <button type="button" className="primary" onClick={reload}>
              Reload the current version
            </button>
            <button type="button" onClick={() => setConflict(null)}>
              Keep my edits
            </button>
          </div>
        </div>
      )}
      {view === 'form' ? (
        <Form<Item>
          schema={SCHEMAS[kind]}
          uiSchema={UI_SCHEMAS[kind]}
          validator={VALIDATORS[kind]}
          formData={data}
          onChange={(e) => change(e.formData ?? {})}
          extraErrors={mergeErrors(clientErrors, toErrorSchema(serverErrors)) as ErrorSchema<Item>}
          showErrorList={false}
          templates={{ ButtonTemplates: BUTTON_TEMPLATES, OptionalDataControlsTemplate: OptionalDataControls }}
          noHtml5Validate
          disabled={!canEdit}
          formContext={{ readOnly: !canEdit }}
          idPrefix={`${kind}-form`}
          experimental_defaultFormStateBehavior={{ emptyObjectFields: 'populateRequiredDefaults' }}
        />
      ) : (
        <div className="json-view">
          <label htmlFor={`${kind}-json`}>
            Raw {view.toUpperCase()} of this {one}
          </label>
          <textarea id={`${kind}-json`} value={jsonText} onChange={(e) => editJson(e.target.value)} readOnly={!canEdit} rows={24} spellCheck={false} aria-invalid={jsonError !== null} />
          {jsonError && (
            <p className="field-error">
              {view.toUpperCase()}: {jsonError}
            </p>
          )}
          {serverErrors.length > 0 && (
            <ul className="field-errors">
              {serverErrors.map((e) => (
                <li key={e.path + e.message}>
                  <code>{e.path}</code> {e.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      {message && (
        <p className={`message ${message.tone}`} role={message.tone === 'error' ? 'alert' : 'status'}>
          {message.text}
        </p>
      )}
      {canEdit && (
        <div className="actions">
          <button type="button" onClick={validate} disabled={busy}>
            Validate
          </button>
          <button type="button" className="primary" onClick={save} disabled={saveBlocked} title={saveBlocked && !busy ? 'Validate first' : undefined}>
            {isNew ? `Create ${one}` : 'Save'}
          </button>
          {onCancel && (
            <button type="button" onClick={onCancel}>
              Cancel
            </button>
          )}
        </div>
      )}
    </section>
  );
}
