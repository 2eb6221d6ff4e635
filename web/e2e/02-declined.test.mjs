// A declined card: the gift's page says the gift failed and why.
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

test('a declined card shows the reason', async () => {
  const ctx = await newContext(browser);
  const page = await ctx.newPage();
  await signUp(page);
  await addCard(page, 'pm_card_chargeDeclined');
  await give(page, { charity: 'Harbor Hospice', amount: '$50' });
  await markDocument(page);
  await waitStatus(page, 'FAILED');
  await assertSameDocument(page);
  const reason = page.getByTestId('failure-reason');
  await reason.waitFor();
  const text = await reason.innerText();
  assert.match(text, /Reason:/);
  assert.match(text, /declined/i, 'the failure message or code says the card was declined');
  assert.match(await page.getByRole('status').filter({ has: page.getByTestId('donation-status') }).innerText(), /did not go through/);
  // The donor is offered another try at the same charity.
  const again = page.getByRole('link', { name: 'Try again' });
  assert.match(await again.getAttribute('href'), /^\/give\?charity=/);
  await screenshot(page, 'gift-failed');
  await again.click();
  await page.getByRole('heading', { name: 'Give to Harbor Hospice' }).waitFor();
  assertClean(ctx);
  await ctx.close();
});
