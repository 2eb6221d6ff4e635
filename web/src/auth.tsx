// Who is signed in: `me` once at start, then whatever sign-in, sign-up and sign-out say.
import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import type { CombinedError } from '@urql/core';
import { client, resetSocket } from './client';
import { MeQuery } from './operations';
import { hasCode } from './lib/errors';
import { Loading } from './components/ui';

export interface SessionUser {
  id: string;
  name: string;
  email: string;
  /** DONOR, or ADMIN for the event's organisers (the console). */
  role: string;
}

interface AuthState {
  /** undefined while the first `me` is on its way, null when signed out. */
  user: SessionUser | null | undefined;
  signedIn(user: SessionUser): void;
  signedOut(): void;
}

const AuthContext = createContext<AuthState>({ user: undefined, signedIn() {}, signedOut() {} });

export function AuthProvider({ children }: { children: ComponentChildren }) {
  const [user, setUser] = useState<SessionUser | null | undefined>(undefined);

  useEffect(() => {
    let live = true;
    client
      .query(MeQuery, {})
      .toPromise()
      .then((r) => {
        if (live) setUser(r.data?.me ?? null);
      });
    return () => {
      live = false;
    };
  }, []);

  const signedIn = useCallback((u: SessionUser) => {
    resetSocket();
    setUser(u);
  }, []);
  const signedOut = useCallback(() => {
    resetSocket();
    setUser(null);
  }, []);
  const value = useMemo(() => ({ user, signedIn, signedOut }), [user, signedIn, signedOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  return useContext(AuthContext);
}

/** Where to go after signing in: only a path of this site. */
export function safeNext(next: string | undefined, fallback = '/give'): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  return next;
}

/** The sign-in page's address that comes back to `url` afterwards. */
export function signInURL(url: string): string {
  return `/signin?next=${encodeURIComponent(url)}`;
}

/** Shows its children to a signed-in donor; sends anyone else to sign in first. */
export function RequireAuth({ children }: { children: ComponentChildren }) {
  const { user } = useAuth();
  const { url, route } = useLocation();
  useEffect(() => {
    if (user === null) route(signInURL(url), true);
  }, [user, url, route]);
  if (!user) return <Loading />;
  return <>{children}</>;
}

/** A session that ended while a page was open (UNAUTHENTICATED): treat the donor as signed out. */
export function useSessionExpiry(error: CombinedError | undefined | null): void {
  const { signedOut } = useAuth();
  useEffect(() => {
    if (hasCode(error, 'UNAUTHENTICATED')) signedOut();
  }, [error, signedOut]);
}
