// The organisers' console: for admins only (me.role === "ADMIN"). The shell (its own
// navigation, the refusal for donors) and the overview: the event's live numbers and the links
// to the job dashboard and the CSV exports, which the Go server serves itself.
import type { ComponentChildren, ComponentType } from 'preact';
import { useLocation } from 'preact-iso';
import { RequireAuth, useAuth } from '../auth';
import { Notice, Loading, useTitle } from '../components/ui';
import { LiveLists, LiveState, LiveTotal, useLiveEvent } from './live';

/** Shows the console to an admin; a donor is told it is not for them, a visitor signs in first. */
export function RequireAdmin({ children }: { children: ComponentChildren }) {
  return (
    <RequireAuth>
      <AdminOnly>{children}</AdminOnly>
    </RequireAuth>
  );
}

function AdminOnly({ children }: { children: ComponentChildren }) {
  const { user } = useAuth();
  if (!user) return <Loading />;
  if (user.role !== 'ADMIN') return <ConsoleRefused />;
  return <>{children}</>;
}

/** What a donor sees at a console address (and what a FORBIDDEN answer leads to). */
export function ConsoleRefused() {
  useTitle('Organisers only');
  return (
    <section aria-labelledby="refused-title" data-testid="console-refused">
      <h1 id="refused-title">Organisers only</h1>
      <Notice kind="warning">
        <p>The console is for the event’s organisers. Your account is a donor account, so it cannot open these pages.</p>
      </Notice>
      <p>
        <a href="/history">See your gifts</a> or <a href="/give">make a gift</a>.
      </p>
    </section>
  );
}

/** A console page, for admins only. */
export function adminOnly<P extends object>(Page: ComponentType<P>): ComponentType<P> {
  return function AdminPage(props: P) {
    return (
      <RequireAdmin>
        <ConsoleNav />
        <Page {...props} />
      </RequireAdmin>
    );
  };
}

const sections = [
  { href: '/console', label: 'Overview' },
  { href: '/console/donations', label: 'Donations' },
  { href: '/console/charities', label: 'Charities' },
  { href: '/console/audit', label: 'Audit log' },
];

function ConsoleNav() {
  const { path } = useLocation();
  return (
    <nav class="console-nav" aria-label="Console">
      <ul>
        {sections.map((s) => (
          <li key={s.href}>
            <a href={s.href} aria-current={path === s.href ? 'page' : undefined}>
              {s.label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function ConsoleOverview() {
  useTitle('Console');
  const { event: e, live, failed } = useLiveEvent();
  return (
    <section aria-labelledby="console-title">
      <h1 id="console-title">Console</h1>
      <p class="lede">Run the event: find and refund gifts, keep the charities up to date, and see who changed what.</p>

      <section aria-labelledby="numbers-title">
        <h2 id="numbers-title">{e ? `${e.name}: live numbers` : 'Live numbers'}</h2>
        {e ? (
          <>
            <LiveState e={e} live={live} />
            <LiveTotal e={e} />
            <LiveLists e={e} />
          </>
        ) : failed ? (
          <Notice kind="error">The event’s totals could not be loaded. Reload the page to try again.</Notice>
        ) : (
          <Loading />
        )}
      </section>

      <section aria-labelledby="tools-title">
        <h2 id="tools-title">Jobs and exports</h2>
        <ul class="tool-list">
          <li class="card">
            {/* Served by the Go server, not the app: its own tab (the app's router leaves it alone). */}
            <a href="/admin/jobs/" target="_blank" rel="noopener">
              Job dashboard<span class="visually-hidden"> (opens in a new tab)</span>
            </a>
            <p class="muted">River UI: the charge, e-mail and reconcile jobs, their retries and failures.</p>
          </li>
          <li class="card">
            <a href="/admin/exports/donations.csv" download>
              Donations (CSV)
            </a>
            <p class="muted">Every donation, oldest first, with its donor and charity.</p>
          </li>
          <li class="card">
            <a href="/admin/exports/charities.csv" download>
              Charities’ totals (CSV)
            </a>
            <p class="muted">Each charity’s succeeded and refunded gifts: what to pay out.</p>
          </li>
        </ul>
      </section>
    </section>
  );
}
