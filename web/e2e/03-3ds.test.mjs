// 3-D Secure: the gift waits for the donor, who completes the challenge on the sandbox's page in
// a new tab; the gift's page then turns SUCCEEDED by itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newContext, assertClean, signUp, addCard, give, waitStatus, markDocument, assertSameDocument, screenshot } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function startAuthenticatedGift(ctx) {
  const page = await ctx.newPage();
  await signUp(page);
  await addCard(page, 'pm_card_authenticationRequired');
  await give(page, { charity: 'Code Forward', amount: '$100' });
  await markDocument(page);
  await waitStatus(page, 'REQUIRES_ACTION');
  const link = page.getByRole('link', { name: /Complete 3-D Secure/ });
  await link.waitFor();
  assert.equal(await link.getAttribute('target'), '_blank');
  assert.match(await link.getAttribute('rel'), /noopener/);
  return { page, link };
}

test('completing 3-D Secure makes the gift succeed without a reload', async () => {
  const ctx = await newContext(browser);
  const { page, link } = await startAuthenticatedGift(ctx);
  await screenshot(page, 'gift-requires-action');
  const [challenge] = await Promise.all([ctx.waitForEvent('page'), link.click()]);
  await challenge.waitForLoadState();
  await challenge.getByRole('heading', { name: 'Authenticate this payment' }).waitFor();
  await challenge.getByRole('button', { name: 'Complete authentication' }).click();
  // The sandbox sends the donor back to the app, which says the tab can be closed.
  await challenge.waitForURL((u) => u.searchParams.get('redirect_status') === 'succeeded');
  // ...to this gift's own page, which says the tab can be closed.
  assert.equal(new URL(challenge.url()).pathname, new URL(page.url()).pathname);
  await challenge.getByText('3-D Secure is complete').waitFor();
  await challenge.close();

  await waitStatus(page, 'SUCCEEDED');
  await assertSameDocument(page);
  assert.equal(await page.getByRole('link', { name: /Complete 3-D Secure/ }).count(), 0);
  assertClean(ctx);
  await ctx.close();
});

test('failing 3-D Secure makes the gift fail', async () => {
  const ctx = await newContext(browser);
  const { page, link } = await startAuthenticatedGift(ctx);
  // Asking again changes nothing while the bank waits for the donor.
  await page.getByRole('button', { name: 'Check again' }).click();
  await page.getByRole('button', { name: 'Check again' }).and(page.locator(':enabled')).waitFor();
  assert.equal(await page.getByTestId('donation-status').getAttribute('data-status'), 'REQUIRES_ACTION');
  assert.equal(await page.locator('.form-alert').count(), 0, 'no error');
  const [challenge] = await Promise.all([ctx.waitForEvent('page'), link.click()]);
  await challenge.getByRole('button', { name: 'Fail authentication' }).click();
  await challenge.waitForURL((u) => u.searchParams.get('redirect_status') === 'failed');
  await challenge.close();
  await waitStatus(page, 'FAILED');
  await assertSameDocument(page);
  assert.match(await page.getByTestId('failure-reason').innerText(), /authenticat/i);
  assertClean(ctx);
  await ctx.close();
});
