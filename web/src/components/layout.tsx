import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { client } from '../client';
import { LogoutMutation } from '../operations';
import { useAuth } from '../auth';

function NavLink({ href, children }: { href: string; children: ComponentChildren }) {
  const { path } = useLocation();
  const current = href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`);
  return (
    <a href={href} aria-current={current ? 'page' : undefined}>
      {children}
    </a>
  );
}

export function Layout({ children }: { children: ComponentChildren }) {
  const { user, signedOut } = useAuth();
  const { path, route } = useLocation();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  const [signingOut, setSigningOut] = useState(false);

  // After moving to another page, put the focus at the start of its content, as a full page
  // load would, so screen readers and keyboards start there.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [path]);

  async function signOut() {
    setSigningOut(true);
    await client.mutation(LogoutMutation, {}).toPromise();
    setSigningOut(false);
    signedOut();
    route('/');
  }

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="site-header">
        <div class="header-inner">
          <a class="brand" href="/">
            <svg class="brand-mark" viewBox="0 0 32 32" aria-hidden="true" focusable="false">
              <path d="M16 26s-9-5.6-9-11.8C7 10.9 9.4 8 12.4 8c1.6 0 2.8.8 3.6 2 .8-1.2 2-2 3.6-2 3 0 5.4 2.9 5.4 6.2C25 20.4 16 26 16 26z" />
            </svg>
            Giveathon
          </a>
          <nav class="site-nav" aria-label="Main">
            <ul>
              <li>
                <NavLink href="/give">Give</NavLink>
              </li>
              <li>
                <NavLink href="/charities">Charities</NavLink>
              </li>
              <li>
                <NavLink href="/live">Live</NavLink>
              </li>
              {user && (
                <>
                  <li>
                    <NavLink href="/history">History</NavLink>
                  </li>
                  <li>
                    <NavLink href="/cards">Cards</NavLink>
                  </li>
                </>
              )}
              {user?.role === 'ADMIN' && (
                <li>
                  <NavLink href="/console">Console</NavLink>
                </li>
              )}
            </ul>
          </nav>
          <div class="account">
            {user ? (
              <>
                <span class="account-name" title={user.email}>
                  {user.name}
                </span>
                <button type="button" class="button-link" onClick={signOut} disabled={signingOut}>
                  Sign out
                </button>
              </>
            ) : user === null ? (
              <>
                <a href="/signin">Sign in</a>
                <a class="button button-small" href="/signup">
                  Sign up
                </a>
              </>
            ) : null}
          </div>
        </div>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {children}
      </main>
      <footer class="site-footer">
        <p>Giveathon: every gift goes to the charity you choose. Cards are handled by Stripe; we never see card numbers.</p>
      </footer>
    </>
  );
}
