// The organisers' console: an admin (admin@example.org, see server.mjs) finds a donor's gift and
// refunds it through the confirmation; keeps the charities; reads the audit log. A donor sees no
// Console link and the console's pages refuse them. axe checks every console page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newContext, assertClean, signUp, addCard, give, waitStatus, checkA11y, screenshot, uniqueEmail } from './helpers.mjs';

const ADMIN_EMAIL = 'admin@example.org';

let browser;
let adminCtx;
let admin;
let donorCtx;
let donor;
let donorEmail;
let giftId;

before(async () => {
  browser = await launch();
  adminCtx = await newContext(browser);
  admin = await adminCtx.newPage();
  donorCtx = await newContext(browser);
  donor = await donorCtx.newPage();
});
after(async () => {
  await browser?.close();
});

/** The console's list item of one donation, found by its id. */
function donationItem(page, id) {
  return page.getByTestId('admin-donation').and(page.locator(`[data-id="${id}"]`));
}

// focusedSoon reports whether the element has the focus, waiting up to 2 s for it: the pages
// move the focus just after they render.
function focusedSoon(locator) {
  return locator.evaluate((el) => new Promise((resolve) => {
    const until = Date.now() + 2000;
    (function check() {
      if (el === document.activeElement || Date.now() > until) resolve(el === document.activeElement);
      else setTimeout(check, 20);
    })();
  }));
}

test('a donor gives, sees no Console link, and the console refuses them', async () => {
  donorEmail = uniqueEmail('console-donor');
  await signUp(donor, { name: 'Console Donor', email: donorEmail });
  await addCard(donor, 'pm_card_visa');
  giftId = await give(donor, { charity: 'Riverbend Food Bank', custom: '13' });
  await waitStatus(donor, 'SUCCEEDED');

  const nav = donor.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'History' }).waitFor();
  assert.equal(await nav.getByRole('link', { name: 'Console' }).count(), 0, 'no Console link for a donor');
  for (const path of ['/console', '/console/donations', '/console/charities', '/console/audit']) {
    await donor.goto(path);
    await donor.getByRole('heading', { name: 'Organisers only' }).waitFor();
    await donor.getByText('The console is for the event’s organisers.').waitFor();
    assert.equal(await donor.getByTestId('admin-donation').count(), 0);
  }
  await checkA11y(donor, 'console refused');
  // The server refuses them too: the job dashboard and the exports.
  assert.equal((await donor.request.get('/admin/jobs/')).status(), 403);
  assert.equal((await donor.request.get('/admin/exports/donations.csv')).status(), 403);
});

test('an admin finds the gift and refunds it through the confirmation', async () => {
  await signUp(admin, { name: 'Event Organiser', email: ADMIN_EMAIL });
  const consoleLink = admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Console' });
  await consoleLink.click();
  await admin.waitForURL((u) => u.pathname === '/console');
  await admin.getByRole('heading', { name: 'Console', level: 1 }).waitFor();
  // The live numbers, as on the live page.
  await admin.getByTestId('event-total').waitFor();
  await admin.getByRole('progressbar', { name: 'Raised toward the goal' }).waitFor();
  assert.equal(await admin.getByRole('link', { name: /Job dashboard/ }).getAttribute('href'), '/admin/jobs/');
  assert.equal(await admin.getByRole('link', { name: 'Donations (CSV)' }).getAttribute('href'), '/admin/exports/donations.csv');
  assert.equal(await admin.getByRole('link', { name: 'Charities’ totals (CSV)' }).getAttribute('href'), '/admin/exports/charities.csv');
  await checkA11y(admin, 'console overview');
  await screenshot(admin, 'console');

  await admin.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Donations' }).click();
  await admin.waitForURL((u) => u.pathname === '/console/donations');
  await admin.getByRole('heading', { name: 'Donations', level: 1 }).waitFor();
  await admin.getByTestId('admin-donation').first().waitFor();
  await checkA11y(admin, 'console donations');

  // Find it: the donor's e-mail and SUCCEEDED.
  await admin.getByLabel('Status').selectOption({ label: 'Succeeded' });
  await admin.getByLabel('Donor e-mail').fill(donorEmail);
  await admin.getByRole('button', { name: 'Search' }).click();
  await admin.getByTestId('donations-count').filter({ hasText: '1 donation matches, newest first.' }).waitFor();
  const item = donationItem(admin, giftId);
  await item.getByRole('heading', { name: '$13.00 to Riverbend Food Bank' }).waitFor();
  assert.match(await item.innerText(), new RegExp(donorEmail.replace(/[.]/g, '\\.')));
  assert.equal(await item.getByTestId('donation-status').getAttribute('data-status'), 'SUCCEEDED');

  // Refund: a confirmation first; Cancel changes nothing and gives the focus back.
  await item.getByRole('button', { name: 'Refund', exact: true }).click();
  const reason = item.getByLabel('Reason (optional)');
  await reason.waitFor();
  assert.equal(await focusedSoon(reason), true, 'the focus goes to the confirmation');
  await item.getByRole('button', { name: 'Cancel' }).click();
  await admin.waitForFunction(() => document.activeElement?.textContent === 'Refund');
  assert.equal(await item.getByTestId('donation-status').getAttribute('data-status'), 'SUCCEEDED');

  await item.getByRole('button', { name: 'Refund', exact: true }).click();
  await item.getByText('Refund Console Donor’s gift of $13.00 to Riverbend Food Bank in full?').waitFor();
  await reason.fill('Asked by the donor: a duplicate gift');
  await checkA11y(admin, 'console refund confirmation');
  await screenshot(admin, 'console-refund-confirm');
  await item.getByRole('button', { name: 'Confirm refund' }).click();
  await item.getByTestId('donation-status').and(admin.locator('[data-status="REFUNDED"]')).waitFor();
  await item.getByRole('status').filter({ hasText: 'Refunded $13.00 to Riverbend Food Bank.' }).waitFor();
  assert.equal(await item.getByRole('button', { name: 'Refund', exact: true }).count(), 0, 'no Refund button on a refunded gift');

  // The search again (now SUCCEEDED finds nothing for the donor; REFUNDED finds the gift).
  await admin.getByRole('button', { name: 'Search' }).click();
  await admin.getByTestId('donations-count').filter({ hasText: '0 donations match' }).waitFor();
  await admin.getByLabel('Status').selectOption({ label: 'Refunded' });
  await admin.getByRole('button', { name: 'Search' }).click();
  await admin.getByTestId('donations-count').filter({ hasText: '1 donation matches' }).waitFor();
  await donationItem(admin, giftId).getByTestId('donation-status').and(admin.locator('[data-status="REFUNDED"]')).waitFor();

  // The donor's own page says so too.
  await donor.goto(`/donations/${encodeURIComponent(giftId)}`);
  await waitStatus(donor, 'REFUNDED');

  // The audit log: the refund first, with its reason.
  await admin.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Audit log' }).click();
  await admin.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  const entry = admin.getByTestId('audit-entry').first();
  await entry.getByRole('heading', { name: 'refundDonation on Donation' }).waitFor();
  assert.match(await entry.innerText(), /admin@example\.org/);
  await entry.getByText('Before and after').click();
  await entry.getByText(/Asked by the donor: a duplicate gift/).waitFor();
  await checkA11y(admin, 'console audit log');

  // The dashboard and the exports answer the admin.
  assert.equal((await admin.request.get('/admin/jobs/')).status(), 200);
  const csv = await admin.request.get(`/admin/exports/donations.csv?status=REFUNDED`);
  assert.equal(csv.status(), 200);
  assert.match(await csv.text(), new RegExp(donorEmail.replace(/[.]/g, '\\.')));
});

test('an admin adds a charity and edits it', async () => {
  const name = `Console Test Charity ${Date.now().toString(36)}`;
  await admin.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Charities' }).click();
  await admin.getByRole('heading', { name: 'Charities', level: 1 }).waitFor();
  await admin.getByRole('heading', { name: 'Clean Water Coalition' }).waitFor();
  await checkA11y(admin, 'console charities');

  await admin.getByRole('button', { name: 'Add a charity' }).click();
  const form = admin.getByRole('form', { name: 'Add a charity' });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('EIN').fill('12-34');
  await form.getByRole('button', { name: 'Add charity' }).click();
  await form.getByText('Enter the EIN as 12-3456789.').waitFor();
  // The form moves the focus just after it shows the errors.
  assert.equal(await focusedSoon(form.getByLabel('EIN')), true, 'focus goes to the wrong field');
  await checkA11y(admin, 'console charity form with errors');
  await form.getByLabel('EIN').fill('98-7654321');
  await form.getByLabel('Description').fill('Made by the browser test.');
  await form.getByRole('button', { name: 'Add charity' }).click();
  const item = admin.getByTestId('admin-charity').filter({ has: admin.getByRole('heading', { name }) });
  await item.waitFor();
  assert.match(await item.innerText(), /98-7654321/);
  assert.match(await item.innerText(), /Active/);

  await item.getByRole('button', { name: 'Edit' }).click();
  await item.getByLabel('Active: takes donations').uncheck();
  await item.getByLabel('Description').fill('Paused by the browser test.');
  await item.getByRole('button', { name: 'Save changes' }).click();
  await item.getByText('Inactive').waitFor();
  await item.getByText('Paused by the browser test.').waitFor();
  await admin.getByText(`Saved ${name}.`).waitFor();

  // The donors' charities page shows it, not taking donations.
  await donor.goto('/charities');
  await donor.getByLabel('Search charities').fill(name);
  await donor.getByRole('heading', { name }).waitFor();
  await donor.getByText('Not taking donations right now.').waitFor();

  // Both changes are in the audit log, newest first.
  await admin.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Audit log' }).click();
  const entries = admin.getByTestId('audit-entry');
  await entries.first().getByRole('heading', { name: 'updateCharity on Charity' }).waitFor();
  await entries.nth(1).getByRole('heading', { name: 'createCharity on Charity' }).waitFor();

  assertClean(adminCtx);
  assertClean(donorCtx);
});

test('the console on a phone', async () => {
  const phoneCtx = await newContext(browser, { viewport: { width: 375, height: 740 }, storageState: await adminCtx.storageState() });
  const phone = await phoneCtx.newPage();
  await phone.goto('/console/donations');
  await phone.getByTestId('admin-donation').first().waitFor();
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no sideways scrolling (${overflow}px)`);
  await checkA11y(phone, 'console donations (phone)');
  await screenshot(phone, 'console-phone');
  assertClean(phoneCtx);
  await phoneCtx.close();
});
