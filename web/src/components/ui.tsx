import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { moneyShort, money } from '../lib/format';

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Giveathon` : 'Giveathon';
  }, [title]);
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="loading" role="status">
      {label}
    </p>
  );
}

/** Messages about a whole form, read out as soon as they appear. */
export function FormAlert({ messages, id }: { messages: string[]; id?: string }) {
  return (
    <div class="form-alert-region" role="alert" id={id}>
      {messages.length > 0 && (
        <ul class="form-alert">
          {messages.map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The message under one input; its id goes in the input's aria-describedby. */
export function FieldError({ id, message }: { id: string; message?: string }) {
  if (!message) return null;
  return (
    <p class="field-error" id={id}>
      {message}
    </p>
  );
}

export function Notice({ kind = 'info', children }: { kind?: 'info' | 'warning' | 'success' | 'error'; children: ComponentChildren }) {
  return <div class={`notice notice-${kind}`}>{children}</div>;
}

const statusLabels: Record<string, string> = {
  PENDING: 'Pending',
  PROCESSING: 'Processing',
  SUCCEEDED: 'Succeeded',
  FAILED: 'Failed',
  REQUIRES_ACTION: 'Action required',
  REFUNDED: 'Refunded',
};

export function statusLabel(status: string): string {
  return statusLabels[status] ?? status;
}

export function StatusBadge({ status, testid }: { status: string; testid?: string }) {
  return (
    <span class={`badge badge-${status.toLowerCase()}`} data-status={status} data-testid={testid}>
      {statusLabel(status)}
    </span>
  );
}

/** Total against goal: a progress bar screen readers announce as "$X of $Y". */
export function GoalProgress({ totalCents, goalCents, label }: { totalCents: number; goalCents: number; label: string }) {
  const pct = goalCents > 0 ? Math.min(100, (totalCents / goalCents) * 100) : 0;
  const pctText = goalCents > 0 ? `${Math.floor((totalCents / goalCents) * 100)}%` : '';
  return (
    <div class="goal">
      <div
        class="progress"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={goalCents}
        aria-valuenow={Math.min(totalCents, goalCents || totalCents)}
        aria-valuetext={`${money(totalCents)} of ${money(goalCents)}${pctText ? ` (${pctText})` : ''}`}
      >
        {/* The width is set through the CSSOM (allowed by the CSP), never a style attribute. */}
        <div class={totalCents > 0 ? 'progress-fill progress-fill-some' : 'progress-fill'} style={{ width: `${pct}%` }} />
      </div>
      <p class="goal-caption">
        <span>{pctText ? `${pctText} of the ${moneyShort(goalCents)} goal` : 'No goal set'}</span>
      </p>
    </div>
  );
}

// What the sandbox's 3-D Secure page says when it sends the donor back (in its own tab), from
// the redirect_status it adds to the return address; nothing on an ordinary visit.
export function ThreeDSecureReturn({ status }: { status?: string }) {
  if (!status) return null;
  return (
    <Notice kind={status === 'succeeded' ? 'success' : 'warning'}>
      <p role="status">
        {status === 'succeeded'
          ? '3-D Secure is complete. You can close this tab: your gift’s page updates by itself.'
          : '3-D Secure was not completed, so the payment was not made. You can close this tab and try again from your gift’s page.'}
      </p>
    </Notice>
  );
}
