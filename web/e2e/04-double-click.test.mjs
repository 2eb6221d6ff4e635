// One gift per click of intent: a double click gives once; the same gift again within a minute
// asks first, and confirming gives a second time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newContext, assertClean, signUp, addCard, fillGiveForm, giveButton, donationCount, waitStatus, gql } from './helpers.mjs';

let browser;
let ctx;
let page;
before(async () => {
  browser = await launch();
  ctx = await newContext(browser);
  page = await ctx.newPage();
  await signUp(page);
  await addCard(page, 'pm_card_visa');
});
after(async () => {
  await browser?.close();
});

test('a double click on Give creates exactly one donation', async () => {
  await page.goto('/give');
  await fillGiveForm(page, { charity: 'Veterans Bridge', custom: '12.34' });
  let submits = 0;
  page.on('request', (r) => {
    if (r.url().endsWith('/graphql') && (r.postData() ?? '').includes('SubmitDonation')) submits += 1;
  });
  await giveButton(page).dblclick();
  await page.waitForURL(/\/donations\//);
  await waitStatus(page, 'SUCCEEDED');
  // Let anything still on its way arrive before counting.
  await page.waitForTimeout(500);
  assert.equal(submits, 1, 'the second click sent nothing');
  assert.equal(await donationCount(page), 1);
});

test('the same gift again asks for confirmation, then gives', async () => {
  await page.goto('/give');
  await fillGiveForm(page, { charity: 'Veterans Bridge', custom: '12.34' });
  await giveButton(page).click();
  const alert = page.getByRole('alert').filter({ hasText: 'You gave the same amount to Veterans Bridge less than a minute ago' });
  await alert.waitFor();
  assert.equal(new URL(page.url()).pathname, '/give');
  assert.equal(await donationCount(page), 1, 'nothing new until the donor confirms');
  await alert.getByRole('button', { name: 'Yes, give again' }).click();
  await page.waitForURL(/\/donations\//);
  await waitStatus(page, 'SUCCEEDED');
  assert.equal(await donationCount(page), 2);
  assertClean(ctx);
});

test('the history pages through many gifts with Load more', async () => {
  const ids = await gql(page, '{ me { paymentMethods { id } } charities(first: 3) { edges { node { id } } } }');
  const pm = ids.me.paymentMethods[0].id;
  const charities = ids.charities.edges.map((e) => e.node.id);
  // Ten more gifts through the API (amounts all different, so none asks for confirmation).
  for (let i = 0; i < 10; i++) {
    await gql(page, 'mutation($i: SubmitDonationInput!) { submitDonation(input: $i) { donation { id } } }', {
      i: { charityId: charities[i % 3], amountCents: 500 + i, paymentMethodId: pm, idempotencyKey: `history-${Date.now()}-${i}` },
    });
  }
  assert.equal(await donationCount(page), 12);
  await page.goto('/history');
  await page.getByTestId('history-count').filter({ hasText: '12 gifts in all.' }).waitFor();
  const items = page.locator('.gift-list > li');
  await items.nth(9).waitFor();
  assert.equal(await items.count(), 10, 'a page of ten');
  await page.getByRole('button', { name: 'Load more gifts' }).click();
  await items.nth(11).waitFor();
  assert.equal(await items.count(), 12);
  assert.equal(await page.getByRole('button', { name: 'Load more gifts' }).count(), 0, 'nothing more to load');
  // The keyboard goes on from the first gift that came in.
  assert.equal(await items.nth(10).locator('a').evaluate((el) => el === document.activeElement), true);
  // Newest first: the oldest gift, from the first test, is last.
  assert.match(await items.nth(11).innerText(), /\$12\.34 to Veterans Bridge/);
  const links = await items.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.equal(new Set(links).size, 12, 'no gift twice');
  assertClean(ctx);
});

