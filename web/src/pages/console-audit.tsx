// The console's audit log: every admin action, newest first, a page at a time. Nothing edits it.
import { client } from '../client';
import { AdminAuditLogQuery } from '../operations';
import type { AdminAuditLogQuery as AuditData } from '../gql/graphql';
import { errorText, hasCode } from '../lib/errors';
import { formatDateTime } from '../lib/format';
import { useSessionExpiry } from '../auth';
import { pageOf, usePagedList } from '../lib/paging';
import { Loading, Notice, useTitle } from '../components/ui';
import { ConsoleRefused } from './console';

type Action = AuditData['adminAuditLog']['edges'][number]['node'];

const PAGE = 20;

/** A JSON document, indented for reading (as it came when it is not JSON). */
function pretty(json: string | null | undefined): string {
  if (!json) return '';
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

export function ConsoleAudit() {
  useTitle('Audit log · Console');
  const { items, total, hasMore, loading, error, firstNew, focusIndex, loadMore } = usePagedList<Action, HTMLHeadingElement>(async (after) => {
    const r = await client.query(AdminAuditLogQuery, { first: PAGE, after }).toPromise();
    const conn = r.data?.adminAuditLog;
    return { error: r.error, page: conn && pageOf(conn, conn.edges.map((e) => e.node)) };
  });
  useSessionExpiry(error);

  if (hasCode(error, 'FORBIDDEN')) return <ConsoleRefused />;

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <p class="result-count" role="status" data-testid="audit-count">
        {total === null ? '' : total === 0 ? 'No admin action yet.' : `${total} ${total === 1 ? 'action' : 'actions'}, newest first.`}
      </p>
      {error && <Notice kind="error">{errorText(error)}</Notice>}
      {items.length > 0 && (
        <ol class="admin-list" aria-label="Admin actions">
          {items.map((a, i) => (
            <li key={a.id} class="card admin-item" data-testid="audit-entry">
              <div class="admin-item-head">
                <h2 class="admin-item-title" tabIndex={-1} ref={i === focusIndex ? firstNew : undefined}>
                  {a.action} <span class="muted">on</span> {a.objectType}
                </h2>
                <time class="muted" dateTime={a.createdAt}>
                  {formatDateTime(a.createdAt)}
                </time>
              </div>
              <dl class="details details-compact">
                <dt>By</dt>
                <dd>{a.actorEmail || <span class="muted">a command on the server</span>}</dd>
                <dt>Object</dt>
                <dd>
                  <code>{a.objectId}</code>
                </dd>
              </dl>
              {(a.before || a.after) && (
                <details class="audit-diff">
                  <summary>Before and after</summary>
                  <div class="audit-json">
                    <div>
                      <p class="label">Before</p>
                      <pre>{a.before ? pretty(a.before) : '(created)'}</pre>
                    </div>
                    <div>
                      <p class="label">After</p>
                      <pre>{pretty(a.after)}</pre>
                    </div>
                  </div>
                </details>
              )}
            </li>
          ))}
        </ol>
      )}
      {loading && <Loading />}
      {hasMore && !loading && (
        <p>
          <button type="button" onClick={loadMore}>
            Load more actions
          </button>
        </p>
      )}
    </section>
  );
}
