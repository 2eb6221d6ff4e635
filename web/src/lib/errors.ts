// What the server's errors say, by code, for showing near a field or a form.
import type { CombinedError } from '@urql/core';

export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  | 'INTERNAL_SERVER_ERROR'
  | 'NETWORK';

export interface Problem {
  code: ErrorCode | string;
  message: string;
  /** The input field it is about (BAD_USER_INPUT). */
  field?: string;
  /** Seconds to wait (RATE_LIMITED). */
  retryAfter?: number;
}

/** The problems in a urql error: one per GraphQL error, or one for a network failure. */
export function problems(error: CombinedError | undefined | null): Problem[] {
  if (!error) return [];
  if (error.networkError && error.graphQLErrors.length === 0) {
    return [{ code: 'NETWORK', message: 'Could not reach Giveathon. Check your connection and try again.' }];
  }
  return error.graphQLErrors.map((e) => {
    const ext = (e.extensions ?? {}) as Record<string, unknown>;
    const code = typeof ext.code === 'string' ? ext.code : 'INTERNAL_SERVER_ERROR';
    const p: Problem = { code, message: e.message };
    if (typeof ext.field === 'string' && ext.field) p.field = ext.field;
    if (typeof ext.retryAfter === 'number') p.retryAfter = ext.retryAfter;
    if (code === 'RATE_LIMITED' && p.retryAfter) {
      p.message = `${e.message} Try again in ${p.retryAfter} second${p.retryAfter === 1 ? '' : 's'}.`;
    }
    if (code === 'INTERNAL_SERVER_ERROR') p.message = 'Something went wrong on our side. Please try again.';
    return p;
  });
}

/** The problems' messages in one sentence (empty when there are none). */
export function errorText(error: CombinedError | undefined | null): string {
  return problems(error)
    .map((p) => p.message)
    .join(' ');
}

export interface FormErrors {
  /** Messages by input field. */
  fields: Record<string, string>;
  /** Messages about the whole form (and about fields the form does not show). */
  form: string[];
}

/** Splits a urql error into field messages (for the fields the form has) and form messages. */
export function formErrors(error: CombinedError | undefined | null, known: readonly string[] = []): FormErrors {
  const out: FormErrors = { fields: {}, form: [] };
  for (const p of problems(error)) {
    if (p.field && known.includes(p.field) && !out.fields[p.field]) out.fields[p.field] = p.message;
    else out.form.push(p.message);
  }
  return out;
}

export function hasCode(error: CombinedError | undefined | null, code: ErrorCode): boolean {
  return problems(error).some((p) => p.code === code);
}
