// The console's charities: every charity (active or not), in name order, with a form to add one
// and an edit form per charity (name, description, EIN, active). Each change is audited.
import { useEffect, useRef, useState } from 'preact/hooks';
import { client } from '../client';
import { AdminCharitiesQuery, CreateCharityMutation, UpdateCharityMutation } from '../operations';
import type { AdminCharityFragment } from '../gql/graphql';
import { errorText, formErrors, hasCode } from '../lib/errors';
import { useSessionExpiry } from '../auth';
import { pageOf, usePagedList } from '../lib/paging';
import { FieldError, FormAlert, Loading, Notice, useTitle } from '../components/ui';
import { ConsoleRefused } from './console';

const PAGE = 50;
const FIELDS = ['name', 'description', 'ein', 'slug'] as const;

interface Values {
  name: string;
  description: string;
  ein: string;
  active: boolean;
}

const empty: Values = { name: '', description: '', ein: '', active: true };

export function ConsoleCharities() {
  useTitle('Charities · Console');
  const [adding, setAdding] = useState(false);
  const [status, setStatus] = useState('');
  const { items, setItems, setTotal, total, hasMore, loading, error, loadMore } = usePagedList<AdminCharityFragment, HTMLElement>(async (after) => {
    const r = await client.query(AdminCharitiesQuery, { first: PAGE, after }).toPromise();
    const c = r.data?.charities;
    return { error: r.error, page: c && pageOf(c, c.edges.map((e) => e.node)) };
  });
  useSessionExpiry(error);


  if (hasCode(error, 'FORBIDDEN')) return <ConsoleRefused />;

  function created(c: AdminCharityFragment) {
    setAdding(false);
    setItems((prev) => [c, ...prev.filter((x) => x.id !== c.id)]);
    setTotal((t) => (t === null ? t : t + 1));
    setStatus(`Added ${c.name}.`);
  }
  function updated(c: AdminCharityFragment) {
    setItems((prev) => prev.map((x) => (x.id === c.id ? c : x)));
    setStatus(`Saved ${c.name}.`);
  }

  return (
    <section aria-labelledby="admin-charities-title">
      <h1 id="admin-charities-title">Charities</h1>
      <p class="sr-status" role="status">
        {status}
      </p>
      {adding ? (
        <div class="card admin-form">
          <h2 id="add-charity-title">Add a charity</h2>
          <CharityForm idPrefix="new-charity" initial={empty} labelledBy="add-charity-title" submitLabel="Add charity" onSaved={created} onCancel={() => setAdding(false)} />
        </div>
      ) : (
        <p>
          <button type="button" class="button-primary" onClick={() => setAdding(true)}>
            Add a charity
          </button>
        </p>
      )}
      <p class="result-count">{total === null ? '' : `${total} ${total === 1 ? 'charity' : 'charities'}, in name order.`}</p>
      {error && <Notice kind="error">{errorText(error)}</Notice>}
      <ul class="admin-list" aria-label="Charities">
        {items.map((c) => (
          <CharityItem key={c.id} charity={c} onSaved={updated} />
        ))}
      </ul>
      {loading && <Loading />}
      {hasMore && !loading && (
        <p>
          <button type="button" onClick={loadMore}>
            Load more charities
          </button>
        </p>
      )}
    </section>
  );
}

function CharityItem({ charity: c, onSaved }: { charity: AdminCharityFragment; onSaved(c: AdminCharityFragment): void }) {
  const [editing, setEditing] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  const titleId = `charity-${c.id}`;
  function close() {
    setEditing(false);
    setTimeout(() => editButton.current?.focus(), 0);
  }
  return (
    <li class="card admin-item" data-testid="admin-charity">
      <div class="admin-item-head">
        <h2 class="admin-item-title" id={titleId}>
          {c.name}
        </h2>
        <span class={`badge ${c.active ? 'badge-succeeded' : 'badge-default'}`}>{c.active ? 'Active' : 'Inactive'}</span>
      </div>
      {editing ? (
        <CharityForm
          idPrefix={`edit-${c.id}`}
          initial={{ name: c.name, description: c.description, ein: c.ein, active: c.active }}
          labelledBy={titleId}
          submitLabel="Save changes"
          onSaved={(saved) => {
            onSaved(saved);
            close();
          }}
          onCancel={close}
          charityId={c.id}
        />
      ) : (
        <>
          <dl class="details details-compact">
            <dt>EIN</dt>
            <dd>{c.ein}</dd>
            <dt>Slug</dt>
            <dd>
              <code>{c.slug}</code>
            </dd>
          </dl>
          {c.description && <p class="admin-description">{c.description}</p>}
          <p class="admin-item-actions">
            <button type="button" class="button-small" ref={editButton} onClick={() => setEditing(true)} aria-describedby={titleId}>
              Edit
            </button>
          </p>
        </>
      )}
    </li>
  );
}

function CharityForm({
  idPrefix,
  initial,
  labelledBy,
  submitLabel,
  charityId,
  onSaved,
  onCancel,
}: {
  idPrefix: string;
  initial: Values;
  labelledBy: string;
  submitLabel: string;
  charityId?: string;
  onSaved(c: AdminCharityFragment): void;
  onCancel(): void;
}) {
  const [v, setV] = useState<Values>(initial);
  const [busy, setBusy] = useState(false);
  const [fields, setFields] = useState<Record<string, string>>({});
  const [form, setForm] = useState<string[]>([]);
  const first = useRef<HTMLInputElement>(null);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    first.current?.focus();
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!v.name.trim()) local.name = 'Enter the charity’s name.';
    if (!/^\d{2}-\d{7}$/.test(v.ein.trim())) local.ein = 'Enter the EIN as 12-3456789.';
    if (Object.keys(local).length) {
      setFields(local);
      setForm([]);
      focusFirstInvalid();
      return;
    }
    setBusy(true);
    const input = { name: v.name.trim(), description: v.description.trim(), ein: v.ein.trim(), active: v.active };
    const r = charityId
      ? await client.mutation(UpdateCharityMutation, { id: charityId, input }).toPromise()
      : await client.mutation(CreateCharityMutation, { input }).toPromise();
    setBusy(false);
    const saved = r.data ? ('updateCharity' in r.data ? r.data.updateCharity : r.data.createCharity) : null;
    if (saved) {
      onSaved(saved);
      return;
    }
    const errs = formErrors(r.error, FIELDS);
    setFields(errs.fields);
    setForm(errs.form.length || Object.keys(errs.fields).length ? errs.form : ['The charity was not saved. Please try again.']);
    focusFirstInvalid();
  }

  function focusFirstInvalid() {
    setTimeout(() => formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(), 0);
  }

  const field = (name: 'name' | 'ein' | 'description') => ({
    id: `${idPrefix}-${name}`,
    'aria-invalid': fields[name] ? ('true' as const) : undefined,
    'aria-describedby': fields[name] ? `${idPrefix}-${name}-error` : undefined,
  });

  return (
    <form class="form admin-charity-form" ref={formRef} onSubmit={submit} aria-labelledby={labelledBy} noValidate>
      <FormAlert messages={form} />
      <div class="field">
        <label for={`${idPrefix}-name`}>Name</label>
        <input type="text" ref={first} maxLength={200} value={v.name} onInput={(e) => setV({ ...v, name: e.currentTarget.value })} {...field('name')} />
        <FieldError id={`${idPrefix}-name-error`} message={fields.name} />
      </div>
      <div class="field">
        <label for={`${idPrefix}-ein`}>EIN</label>
        <p class="hint" id={`${idPrefix}-ein-hint`}>
          The US Employer Identification Number, like 12-3456789.
        </p>
        <input
          type="text"
          inputMode="numeric"
          maxLength={10}
          value={v.ein}
          onInput={(e) => setV({ ...v, ein: e.currentTarget.value })}
          {...field('ein')}
          aria-describedby={fields.ein ? `${idPrefix}-ein-hint ${idPrefix}-ein-error` : `${idPrefix}-ein-hint`}
        />
        <FieldError id={`${idPrefix}-ein-error`} message={fields.ein} />
      </div>
      <div class="field">
        <label for={`${idPrefix}-description`}>Description</label>
        <textarea rows={3} maxLength={4000} value={v.description} onInput={(e) => setV({ ...v, description: e.currentTarget.value })} {...field('description')} />
        <FieldError id={`${idPrefix}-description-error`} message={fields.description} />
      </div>
      <div class="check">
        <input id={`${idPrefix}-active`} type="checkbox" checked={v.active} onChange={(e) => setV({ ...v, active: e.currentTarget.checked })} />
        <label for={`${idPrefix}-active`}>Active: takes donations</label>
      </div>
      <div class="actions">
        <button type="submit" class="button-primary" disabled={busy}>
          {busy ? 'Saving…' : submitLabel}
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
