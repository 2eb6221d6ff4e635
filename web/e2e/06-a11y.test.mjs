// Accessibility: axe-core finds no serious or critical problem on any page; the charities
// search and the keyboard work.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newContext, assertClean, signUp, addCard, give, waitStatus, checkA11y, screenshot } from './helpers.mjs';

let browser;
let ctx;
let page;
before(async () => {
  browser = await launch();
  ctx = await newContext(browser);
  page = await ctx.newPage();
});
after(async () => {
  await browser?.close();
});

test('signed-out pages', async () => {
  await page.goto('/');
  await page.getByTestId('event-total').waitFor();
  await checkA11y(page, 'home');
  await page.goto('/signup');
  await page.getByRole('heading', { name: 'Create your donor account' }).waitFor();
  await checkA11y(page, 'sign up');
  await screenshot(page, 'signup');
  // Errors are shown next to their fields, and checked by axe too.
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByText('Enter your name.').waitFor();
  assert.equal(await page.getByLabel('Name').evaluate((el) => el === document.activeElement), true, 'focus goes to the first wrong field');
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByText('Use at least 8 characters.').waitFor();
  await checkA11y(page, 'sign up with errors');
  // The server's own checks show next to their field too.
  await page.getByLabel('Name').fill('Someone');
  await page.getByLabel('Email').fill('someone@localhost');
  await page.getByLabel('Password').fill('long enough password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  const emailError = page.locator('#signup-email-error');
  await emailError.filter({ hasText: 'email is not a valid address' }).waitFor();
  assert.equal(await page.getByLabel('Email').getAttribute('aria-describedby'), 'signup-email-error');
  await page.goto('/signin');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await checkA11y(page, 'sign in');
  await page.goto('/charities');
  await page.getByRole('heading', { name: 'Clean Water Coalition' }).waitFor();
  await checkA11y(page, 'charities');
  await screenshot(page, 'charities');
  await page.goto('/live');
  await page.getByTestId('event-total').waitFor();
  await checkA11y(page, 'live');
  await page.goto('/no-such-page');
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
});

test('the charities search filters as the donor types and leads to the give form', async () => {
  await page.goto('/charities');
  const items = page.locator('.charity-list > li');
  await items.first().waitFor();
  const all = await items.count();
  assert.ok(all >= 10, `all charities listed (${all})`);
  await page.getByLabel('Search charities').fill('food');
  await page.getByText('1 charity matches “food”.').waitFor();
  assert.equal(await items.count(), 1);
  assert.equal(await page.getByRole('heading', { level: 2 }).first().innerText(), 'Riverbend Food Bank');
  await page.getByLabel('Search charities').fill('zzzz nothing');
  await page.getByText('No charity matches that search.').waitFor();
  await page.getByLabel('Search charities').fill('');
  await page.waitForFunction((n) => document.querySelectorAll('.charity-list > li').length === n, all, { polling: 100 });
  await page.getByLabel('Search charities').fill('food');
  await page.getByText('1 charity matches “food”.').waitFor();
  await page.getByRole('link', { name: 'Give to Riverbend Food Bank' }).click();
  // Signed out: sign up first, then straight back to this charity's give form.
  await page.waitForURL((u) => u.pathname === '/signin' && (u.searchParams.get('next') ?? '').startsWith('/give?charity='));
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill('Keyboard User');
  await page.getByLabel('Email').fill(`kb-${Date.now()}@giveathon.test`);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByLabel('Password').press('Enter');
  await page.waitForURL((u) => u.pathname === '/give' && !!u.searchParams.get('charity'));
  await page.getByRole('heading', { name: 'Give to Riverbend Food Bank' }).waitFor();
});

test('signed-in pages', async () => {
  await page.getByRole('heading', { name: 'Add a card' }).waitFor();
  await checkA11y(page, 'give (no card yet)');
  await addCard(page, 'pm_card_visa');
  await checkA11y(page, 'cards');
  await page.goto('/give');
  await page.getByRole('button', { name: /^Give/ }).waitFor();
  await checkA11y(page, 'give');
  await give(page, { charity: 'Green Canopy Project', amount: '$10' });
  await waitStatus(page, 'SUCCEEDED');
  await checkA11y(page, 'gift status');
  await page.goto('/history');
  await page.getByRole('link', { name: '$10.00 to Green Canopy Project' }).waitFor();
  await checkA11y(page, 'history');
  await page.goto('/');
  await page.getByTestId('event-total').waitFor();
  await checkA11y(page, 'home (signed in)');
  await page.goto('/live');
  await page.getByText('to Green Canopy Project').first().waitFor();
  await checkA11y(page, 'live (with gifts)');
});

test('the keyboard reaches the skip link, the navigation and the give form', async () => {
  await page.goto('/give');
  await page.getByRole('button', { name: /^Give/ }).waitFor();
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  assert.equal(await skip.evaluate((el) => el === document.activeElement), true, 'the skip link comes first');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  // The amount radios are one group: arrows move between them.
  await page.getByLabel('$25', { exact: true }).focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.getByLabel('$50', { exact: true }).isChecked(), true);
  // A visible focus ring on the focused preset's label.
  const outline = await page.locator('label[for="amount-5000"]').evaluate((el) => getComputedStyle(el).outlineStyle);
  assert.notEqual(outline, 'none');
  assertClean(ctx);
});
