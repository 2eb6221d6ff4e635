// Sign up and sign in: one form each; afterwards the donor goes where they were going.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { client } from '../client';
import { LoginMutation, RegisterMutation } from '../operations';
import { safeNext, useAuth } from '../auth';
import { formErrors } from '../lib/errors';
import { FieldError, FormAlert, useTitle } from '../components/ui';

type Field = 'name' | 'email' | 'password';

interface Props {
  mode: 'signup' | 'signin';
}

function validate(mode: Props['mode'], v: Record<Field, string>): Partial<Record<Field, string>> {
  const e: Partial<Record<Field, string>> = {};
  if (mode === 'signup') {
    if (!v.name.trim()) e.name = 'Enter your name.';
    else if (v.name.trim().length > 200) e.name = 'Your name can be at most 200 characters.';
  }
  if (!v.email.trim()) e.email = 'Enter your e-mail address.';
  else if (!/^[^\s@]+@[^\s@]+$/.test(v.email.trim())) e.email = 'Enter a whole e-mail address, with an @ and what follows it.';
  if (!v.password) e.password = 'Enter your password.';
  else if (mode === 'signup' && v.password.length < 8) e.password = 'Use at least 8 characters.';
  else if (mode === 'signup' && v.password.length > 128) e.password = 'Use at most 128 characters.';
  return e;
}

function AuthForm({ mode }: Props) {
  const { user, signedIn } = useAuth();
  const { query, route } = useLocation();
  const next = safeNext(query.next);
  const [values, setValues] = useState<Record<Field, string>>({ name: '', email: '', password: '' });
  const [errors, setErrors] = useState<Partial<Record<Field, string>>>({});
  const [formMessages, setFormMessages] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const inputs = useRef<Partial<Record<Field, HTMLInputElement | null>>>({});
  const signup = mode === 'signup';
  useTitle(signup ? 'Sign up' : 'Sign in');

  // Already signed in (another tab, or the back button): carry on.
  useEffect(() => {
    if (user && !busy) route(next, true);
  }, [user]);

  const fields: Field[] = signup ? ['name', 'email', 'password'] : ['email', 'password'];

  function focusFirst(e: Partial<Record<Field, string>>) {
    const f = fields.find((k) => e[k]);
    if (f) inputs.current[f]?.focus();
  }

  async function onSubmit(ev: Event) {
    ev.preventDefault();
    if (busy) return;
    const e = validate(mode, values);
    setErrors(e);
    setFormMessages([]);
    if (Object.keys(e).length) {
      focusFirst(e);
      return;
    }
    setBusy(true);
    const email = values.email.trim();
    const r = signup
      ? await client
          .mutation(RegisterMutation, { input: { name: values.name.trim(), email, password: values.password } })
          .toPromise()
      : await client.mutation(LoginMutation, { input: { email, password: values.password } }).toPromise();
    const u = r.data && ('register' in r.data ? r.data.register.user : 'login' in r.data ? r.data.login.user : null);
    if (u) {
      signedIn(u);
      route(next, true);
      return;
    }
    setBusy(false);
    const fe = formErrors(r.error, fields);
    setErrors(fe.fields);
    setFormMessages(fe.form.length || Object.keys(fe.fields).length ? fe.form : ['Something went wrong. Please try again.']);
    focusFirst(fe.fields);
  }

  function bind(f: Field) {
    return {
      id: `${mode}-${f}`,
      name: f,
      value: values[f],
      ref: (el: HTMLInputElement | null) => {
        inputs.current[f] = el;
      },
      onInput: (ev: Event) => setValues((v) => ({ ...v, [f]: (ev.currentTarget as HTMLInputElement).value })),
      'aria-invalid': errors[f] ? true : undefined,
      'aria-describedby': [errors[f] ? `${mode}-${f}-error` : '', f === 'password' && signup ? `${mode}-password-hint` : '']
        .filter(Boolean)
        .join(' ') || undefined,
    };
  }

  return (
    <section class="narrow" aria-labelledby="auth-title">
      <h1 id="auth-title">{signup ? 'Create your donor account' : 'Sign in'}</h1>
      <p class="lede">
        {signup
          ? 'One account for all your gifts: save a card once, then give in two clicks and see every receipt.'
          : 'Welcome back. Sign in to give and to see your gifts.'}
      </p>
      <form class="card form" onSubmit={onSubmit} noValidate>
        <FormAlert messages={formMessages} />
        {signup && (
          <div class="field">
            <label for="signup-name">Name</label>
            <input {...bind('name')} type="text" autocomplete="name" maxLength={200} required />
            <FieldError id="signup-name-error" message={errors.name} />
          </div>
        )}
        <div class="field">
          <label for={`${mode}-email`}>Email</label>
          <input {...bind('email')} type="email" autocomplete={signup ? 'email' : 'username'} inputMode="email" required />
          <FieldError id={`${mode}-email-error`} message={errors.email} />
        </div>
        <div class="field">
          <label for={`${mode}-password`}>Password</label>
          {signup && (
            <p class="hint" id="signup-password-hint">
              8 to 128 characters.
            </p>
          )}
          <input
            {...bind('password')}
            type="password"
            autocomplete={signup ? 'new-password' : 'current-password'}
            minLength={signup ? 8 : undefined}
            maxLength={128}
            required
          />
          <FieldError id={`${mode}-password-error`} message={errors.password} />
        </div>
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? (signup ? 'Creating your account…' : 'Signing in…') : signup ? 'Sign up' : 'Sign in'}
        </button>
      </form>
      <p class="switch">
        {signup ? (
          <>
            Already have an account? <a href={`/signin${query.next ? `?next=${encodeURIComponent(next)}` : ''}`}>Sign in</a>
          </>
        ) : (
          <>
            New here? <a href={`/signup${query.next ? `?next=${encodeURIComponent(next)}` : ''}`}>Create an account</a>
          </>
        )}
      </p>
    </section>
  );
}

export function SignUp() {
  return <AuthForm mode="signup" />;
}

export function SignIn() {
  return <AuthForm mode="signin" />;
}
