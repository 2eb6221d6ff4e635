// Before the event opens (a server of its own whose event starts in the future), the give page
// says donations are closed and offers no Give button; the home page says when it runs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newContext, assertClean, signUp, addCard, giveButton, checkA11y, screenshot } from './helpers.mjs';
import { startServer } from './server.mjs';

let browser;
let server;
before(async () => {
  server = await startServer({
    env: { EVENT_NAME: 'Winter Giveathon', EVENT_STARTS_AT: '2099-12-01T09:00:00Z', EVENT_ENDS_AT: '2099-12-04T09:00:00Z' },
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the give page says the event is not open', async () => {
  const ctx = await newContext(browser, { baseURL: server.base });
  const page = await ctx.newPage();
  await page.goto(server.base + '/');
  await page.getByRole('heading', { name: 'Winter Giveathon' }).waitFor();
  assert.match(await page.locator('.when').innerText(), /The event runs from Dec 1, 2099/);
  await signUp(page);
  await addCard(page, 'pm_card_visa');
  await page.goto('/give');
  const notice = page.getByText(/Donations are closed: Winter Giveathon takes gifts from Dec 1, 2099/);
  await notice.waitFor();
  assert.equal(await giveButton(page).isDisabled(), true, 'no gift can be sent');
  await checkA11y(page, 'give (event closed)');
  await screenshot(page, 'give-closed');
  assertClean(ctx);
  await ctx.close();
});
