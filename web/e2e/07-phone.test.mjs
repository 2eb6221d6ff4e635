// On a phone (390 x 844): the navigation wraps, nothing scrolls sideways, and giving works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newContext, assertClean, signUp, addCard, give, waitStatus, screenshot, checkA11y } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function noSidewaysScroll(page, label) {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  assert.ok(scroll <= client, `${label}: the page is ${scroll}px wide in a ${client}px viewport`);
}

test('the give journey on a phone', async () => {
  const ctx = await newContext(browser, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  await page.goto('/');
  await page.getByTestId('event-total').waitFor();
  await noSidewaysScroll(page, 'home');
  const nav = page.getByRole('navigation', { name: 'Main' });
  assert.ok(await nav.getByRole('link', { name: 'Live' }).isVisible());
  await screenshot(page, 'phone-home');

  await signUp(page, { name: 'Phone Donor' });
  await addCard(page, 'pm_card_visa');
  await page.goto('/give');
  await page.getByRole('button', { name: /^Give/ }).waitFor();
  await page.getByLabel('Charity', { exact: true }).selectOption({ label: 'Clean Water Coalition' });
  await page.getByLabel('$100', { exact: true }).tap();
  await noSidewaysScroll(page, 'give');
  await checkA11y(page, 'give on a phone');
  await screenshot(page, 'phone-give', { main: true });
  await page.getByRole('button', { name: 'Give $100.00' }).tap();
  await page.waitForURL(/\/donations\//);
  await waitStatus(page, 'SUCCEEDED');
  await noSidewaysScroll(page, 'gift status');
  await screenshot(page, 'phone-gift-succeeded');
  await page.goto('/history');
  await page.getByRole('link', { name: '$100.00 to Clean Water Coalition' }).waitFor();
  await noSidewaysScroll(page, 'history');
  await page.goto('/live');
  await page.getByTestId('event-total').waitFor();
  await noSidewaysScroll(page, 'live');
  await screenshot(page, 'phone-live');
  assertClean(ctx);
  await ctx.close();
});

test('at 360 px wide nothing scrolls sideways either', async () => {
  const ctx = await newContext(browser, { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  for (const path of ['/', '/charities', '/live', '/signup', '/signin']) {
    await page.goto(path);
    await page.locator('h1').first().waitFor();
    await page.waitForLoadState('networkidle').catch(() => {});
    await noSidewaysScroll(page, path);
  }
  await ctx.close();
});
