// What the browser tests share: the browser, journeys through the UI, axe, screenshots.
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const e2eDir = path.dirname(fileURLToPath(import.meta.url));

export const BASE_URL = process.env.BASE_URL;
if (!BASE_URL) throw new Error('BASE_URL is unset: run the tests through e2e/run.mjs (npm run test:e2e)');

export const ARTIFACTS = path.join(e2eDir, 'artifacts');
export const TIMEOUT = 20_000;

/**
 * Debian's Chromium, headless. playwright-core's default launch gives each browser a fresh
 * temporary profile (user-data dir), removed when it closes.
 */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/**
 * A fresh context (its own cookies) whose pages record what must not happen: uncaught errors
 * and Content-Security-Policy violations. Check them with assertClean(ctx).
 */
export async function newContext(browser, options = {}) {
  const ctx = await browser.newContext({ baseURL: BASE_URL, viewport: { width: 1280, height: 900 }, ...options });
  ctx.setDefaultTimeout(TIMEOUT);
  ctx.problems = [];
  const watch = (page) => {
    page.on('pageerror', (e) => ctx.problems.push(`page error on ${page.url()}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) {
        ctx.problems.push(`CSP on ${page.url()}: ${m.text()}`);
      }
    });
  };
  ctx.on('page', watch);
  return ctx;
}

export function assertClean(ctx) {
  assert.deepEqual(ctx.problems, [], 'no page errors and no CSP violations');
}

let counter = 0;
export function uniqueEmail(tag) {
  counter += 1;
  return `${tag}-${Date.now().toString(36)}-${process.pid}-${counter}@giveathon.test`;
}

/** Signs a new donor up through the form; ends on the page sign-up leads to (/give). */
export async function signUp(page, { name = 'Test Donor', email = uniqueEmail('donor'), password = 'correct horse battery' } = {}) {
  await page.goto('/signup');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.waitForURL((u) => u.pathname === '/give');
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return { name, email, password };
}

/** Saves one of the sandbox's test cards through the cards page. */
export async function addCard(page, pmId, { makeDefault = false } = {}) {
  await page.goto('/cards');
  await page.getByRole('heading', { name: 'Add a card' }).waitFor();
  await page.locator(`input[type=radio][value="${pmId}"]`).check();
  const box = page.getByLabel('Make it my default card');
  if (makeDefault && (await box.count())) await box.check();
  const before = await page.getByRole('list', { name: 'Saved cards' }).getByRole('listitem').count().catch(() => 0);
  await page.getByRole('button', { name: 'Add card' }).click();
  await page.getByRole('list', { name: 'Saved cards' }).getByRole('listitem').nth(before).waitFor();
}

/** Fills the give form (charity by name, a preset like '$25' or a custom amount, a card by its last4). */
export async function fillGiveForm(page, { charity = 'Riverbend Food Bank', amount = '$25', custom, last4 } = {}) {
  if (!new URL(page.url()).pathname.startsWith('/give')) await page.goto('/give');
  await giveButton(page).waitFor();
  const select = page.getByLabel('Charity', { exact: true });
  if (await select.count()) await select.selectOption({ label: charity });
  if (custom !== undefined) await page.getByLabel('Other amount in dollars').fill(custom);
  else await page.getByLabel(amount, { exact: true }).check();
  if (last4) await page.getByLabel(new RegExp(`ending in ${last4}`)).check();
}

export function giveButton(page) {
  return page.getByRole('button', { name: /^Give( \$[\d,.]+)?$/ });
}

/** Gives and waits for the gift's page; returns the donation's id. */
export async function give(page, opts = {}) {
  await fillGiveForm(page, opts);
  await giveButton(page).click();
  await page.waitForURL(/\/donations\//);
  return decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
}

/** Marks the document, so that a later check can tell that the page was not reloaded. */
export async function markDocument(page) {
  await page.evaluate(() => {
    window.__e2eMark = true;
  });
}
export async function assertSameDocument(page) {
  assert.equal(await page.evaluate(() => window.__e2eMark === true), true, 'the page was not reloaded');
}

/** Waits until the gift's status (data-testid=donation-status) is `status`; returns it. */
export async function waitStatus(page, status, timeout = 30_000) {
  const el = page.getByTestId('donation-status');
  await el.and(page.locator(`[data-status="${status}"]`)).waitFor({ timeout }).catch(async (e) => {
    const now = await el.getAttribute('data-status').catch(() => '?');
    throw new Error(`status stayed ${now}, wanted ${status}: ${e.message}`);
  });
  return status;
}

/** A GraphQL request with the page's session (its cookies), as the app sends it. */
export async function gql(page, query, variables = {}) {
  const res = await page.request.post('/graphql', {
    data: { query, variables },
    headers: { 'Content-Type': 'application/json', Origin: BASE_URL },
  });
  assert.equal(res.status(), 200, `GraphQL answered ${res.status()}`);
  const body = await res.json();
  assert.equal(body.errors, undefined, `GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

export async function donationCount(page) {
  const d = await gql(page, '{ me { donations(first: 1) { totalCount } } }');
  return d.me.donations.totalCount;
}

const axeSource = readFile(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core on the page; fails on any serious or critical violation. */
export async function checkA11y(page, label) {
  const src = await axeSource;
  // Injected through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(`${src}\n;0`);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `axe found serious or critical problems on ${label}`);
  return result;
}

/** Saves a screenshot in e2e/artifacts/ and, for the main pages, in SCREENSHOT_DIR too. */
export async function screenshot(page, name, { main = false, fullPage = true } = {}) {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage, animations: 'disabled' });
  if (main && process.env.SCREENSHOT_DIR) {
    await mkdir(process.env.SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, `${name}.png`), fullPage, animations: 'disabled' });
  }
}

/** Dollars shown like "$1,234.50" as cents. */
export function centsOf(text) {
  const m = /\$([\d,]+)\.(\d\d)/.exec(text);
  assert.ok(m, `no amount in ${JSON.stringify(text)}`);
  return Number(m[1].replace(/,/g, '')) * 100 + Number(m[2]);
}
