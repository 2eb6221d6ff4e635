// The live page: a second browser watching /live sees the total move when a gift succeeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newContext, assertClean, signUp, addCard, give, waitStatus, centsOf, screenshot, markDocument, assertSameDocument } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the live page updates when someone gives', async () => {
  const watcher = await newContext(browser);
  const live = await watcher.newPage();
  await live.goto('/live');
  const total = live.getByTestId('event-total');
  await total.waitFor();
  const before = centsOf(await total.innerText());
  const bar = live.getByRole('progressbar', { name: 'Raised toward the goal' });
  assert.equal(Number(await bar.getAttribute('aria-valuenow')), before);
  assert.ok(Number(await bar.getAttribute('aria-valuemax')) > 0);
  await markDocument(live);

  const donorCtx = await newContext(browser);
  const page = await donorCtx.newPage();
  await signUp(page, { name: `Grace Hopper ${Date.now()}` });
  await addCard(page, 'pm_card_visa');
  await give(page, { charity: 'Mountain Rescue Volunteers', amount: '$50' });
  await waitStatus(page, 'SUCCEEDED');

  const want = before + 5000;
  await live.waitForFunction(
    (cents) => {
      const t = document.querySelector('[data-testid=event-total]')?.textContent ?? '';
      const m = /\$([\d,]+)\.(\d\d)/.exec(t);
      return m && Number(m[1].replace(/,/g, '')) * 100 + Number(m[2]) === cents;
    },
    want,
    { timeout: 20_000, polling: 100 },
  );
  await assertSameDocument(live);
  assert.equal(Number(await bar.getAttribute('aria-valuenow')), want);
  await live.getByTestId('recent-gifts').getByText(/Grace Hopper \d+ gave \$50\.00 to Mountain Rescue Volunteers/).first().waitFor();
  await live.getByRole('heading', { name: 'Top charities' }).waitFor();
  assert.match(await live.locator('.top-list').innerText(), /Mountain Rescue Volunteers/);
  await screenshot(live, 'live', { main: true });

  // The home page shows the same total.
  await page.goto('/');
  assert.equal(centsOf(await page.getByTestId('event-total').innerText()), want);
  await screenshot(page, 'home', { main: true });
  assertClean(watcher);
  assertClean(donorCtx);
  await watcher.close();
  await donorCtx.close();
});

test('an anonymous gift shows as Anonymous', async () => {
  const watcher = await newContext(browser);
  const live = await watcher.newPage();
  await live.goto('/live');
  await live.getByTestId('event-total').waitFor();

  const donorCtx = await newContext(browser);
  const page = await donorCtx.newPage();
  await signUp(page, { name: `Secret Santa ${Date.now()}` });
  await addCard(page, 'pm_card_visa');
  await page.goto('/give');
  await page.getByLabel('Give anonymously').check();
  await give(page, { charity: 'Paws and Claws Rescue', custom: '7' });
  await waitStatus(page, 'SUCCEEDED');
  await live.getByTestId('recent-gifts').getByText('Anonymous gave $7.00 to Paws and Claws Rescue').first().waitFor({ timeout: 20_000 });
  assert.equal(await live.getByText(/Secret Santa/).count(), 0);
  await watcher.close();
  await donorCtx.close();
});
