// The main journey: sign up, save a card, give, watch the gift succeed without a reload, find
// it in the history.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launch, newContext, assertClean, signUp, addCard, give, waitStatus, markDocument, assertSameDocument,
  screenshot, donationCount, fillGiveForm, giveButton,
} from './helpers.mjs';

let browser;
let ctx;
let page;
const requested = [];

before(async () => {
  browser = await launch();
  ctx = await newContext(browser);
  ctx.on('request', (r) => requested.push(new URL(r.url()).pathname));
  page = await ctx.newPage();
});
after(async () => {
  await browser?.close();
});

test('sign up lands on the give page, signed in', async () => {
  await page.goto('/give');
  // Signed out: the give page sends the donor to sign in, and back afterwards.
  await page.waitForURL((u) => u.pathname === '/signin' && u.searchParams.get('next') === '/give');
  const donor = await signUp(page, { name: 'Ada Lovelace' });
  assert.equal(new URL(page.url()).pathname, '/give');
  await page.getByRole('heading', { name: 'Add a card' }).waitFor();
  assert.match(await page.locator('header').innerText(), /Ada Lovelace/);
  assert.ok(donor.email);
});

test('an e-mail address already in use is refused next to the field', async () => {
  const email = await page.evaluate(() => document.querySelector('.account-name')?.getAttribute('title'));
  const other = await newContext(browser);
  const p = await other.newPage();
  await p.goto('/signup');
  await p.getByLabel('Name').fill('Impostor');
  await p.getByLabel('Email').fill(email);
  await p.getByLabel('Password').fill('another long password');
  await p.getByRole('button', { name: 'Sign up' }).click();
  await p.locator('#signup-email-error').filter({ hasText: 'an account with this email already exists' }).waitFor();
  assert.equal(new URL(p.url()).pathname, '/signup');
  await other.close();
});

test('a card is saved and shown', async () => {
  await addCard(page, 'pm_card_visa');
  const cards = page.getByRole('list', { name: 'Saved cards' });
  assert.match(await cards.innerText(), /Visa ending in 4242/);
  assert.match(await cards.innerText(), /Default/);
  await screenshot(page, 'cards');
});

test('a second card can be added, made the default, and removed', async () => {
  await addCard(page, 'pm_card_mastercard', { makeDefault: true });
  const cards = page.getByRole('list', { name: 'Saved cards' }).getByRole('listitem');
  await page.getByText('Mastercard ending in 4444 saved.').waitFor();
  assert.equal(await cards.count(), 2);
  // The default first.
  assert.match(await cards.nth(0).innerText(), /Mastercard ending in 4444\s+Default/);
  await page.getByRole('button', { name: 'Remove Mastercard ending in 4444' }).click();
  await page.getByText('Mastercard ending in 4444 removed.').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('.card-list > li').length === 1, null, { polling: 100 });
  assert.match(await cards.nth(0).innerText(), /Visa ending in 4242/);
});

test('the form checks the amount before sending it', async () => {
  await page.goto('/give');
  await fillGiveForm(page, { custom: '0.50' });
  await giveButton(page).click();
  await page.getByText('The smallest gift is $1.').waitFor();
  assert.equal(await page.getByLabel('Other amount in dollars').getAttribute('aria-invalid'), 'true');
  await fillGiveForm(page, { custom: '100000.01' });
  await giveButton(page).click();
  await page.getByText('The largest gift is $100,000.').waitFor();
  assert.equal(new URL(page.url()).pathname, '/give');
  assert.equal(await donationCount(page), 0, 'nothing was sent');
});

test('a gift succeeds and its page shows it without a reload', async () => {
  await page.goto('/give');
  await fillGiveForm(page, { charity: 'Literacy Lighthouse', amount: '$25' });
  await screenshot(page, 'give', { main: true });
  await giveButton(page).click();
  await page.waitForURL(/\/donations\//);
  await markDocument(page);
  const status = page.getByTestId('donation-status');
  await status.waitFor();
  // The status is in a live region, so screen readers hear it change.
  const region = page.locator('[role=status][aria-live=polite]').filter({ has: status });
  assert.equal(await region.count(), 1);
  await waitStatus(page, 'SUCCEEDED');
  await assertSameDocument(page);
  assert.match(await region.innerText(), /Thank you! Your gift of \$25\.00 to Literacy Lighthouse went through/);
  assert.equal(await page.getByTestId('donation-amount').innerText(), '$25.00');
  await screenshot(page, 'gift-succeeded', { main: true });
});

test('the history lists the gift', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'History' }).click();
  await page.waitForURL('**/history');
  await page.getByTestId('history-count').filter({ hasText: '1 gift in all.' }).waitFor();
  const gift = page.getByRole('link', { name: '$25.00 to Literacy Lighthouse' });
  await gift.waitFor();
  assert.equal(await page.locator('.gift [data-status]').first().getAttribute('data-status'), 'SUCCEEDED');
  await screenshot(page, 'history', { main: true });
  assert.equal(await donationCount(page), 1);
  await gift.click();
  await page.waitForURL(/\/donations\//);
  await waitStatus(page, 'SUCCEEDED');
});

test('sign out, and sign in again comes back to where the donor was going', async () => {
  const email = await page.evaluate(() => document.querySelector('.account-name')?.getAttribute('title'));
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('link', { name: 'Sign in' }).waitFor();
  await page.goto('/history');
  await page.waitForURL((u) => u.pathname === '/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: /invalid email or password/i }).waitFor();
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === '/history');
  await page.getByRole('link', { name: '$25.00 to Literacy Lighthouse' }).waitFor();
  assertClean(ctx);
  // With the sandbox, neither Stripe.js nor the app's Stripe code is ever fetched.
  assert.deepEqual(requested.filter((p) => /stripe/i.test(p)), []);
  assert.ok(requested.some((p) => p.startsWith('/assets/')), 'requests were recorded');
});
