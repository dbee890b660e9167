// The demo in a real browser: Debian's Chromium (/usr/bin/chromium, installed by scripts/services)
// driven by playwright-core. Starts the built sessile-demo binary on a free loopback port and an
// attacker server on another one, then walks the demo as people (and attackers) would.
//
// Run by scripts/test: `npm ci` in this folder, then `npm test`. The binary is
// $SESSILE_DEMO_BIN, else $CARGO_TARGET_DIR/debug/sessile-demo (target/ by default); screenshots
// of every page state at 390 and 1280 px go to $CARGO_TARGET_DIR/browser-screenshots (printed).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const targetDir = path.resolve(repo, process.env.CARGO_TARGET_DIR ?? 'target');
const demoBinary = process.env.SESSILE_DEMO_BIN ?? path.join(targetDir, 'debug', 'sessile-demo');
const screenshots = path.join(targetDir, 'browser-screenshots');
const chromiumPath = process.env.SESSILE_CHROMIUM ?? '/usr/bin/chromium';

let demo; // http://127.0.0.1:PORT
let demoProcess;
let demoLog = '';
let workDir;
let attacker; // the attacker's server
let browser;

before(async () => {
  workDir = mkdtempSync(path.join(os.tmpdir(), 'sessile-browser-'));
  rmSync(screenshots, { recursive: true, force: true });
  mkdirSync(screenshots, { recursive: true });
  console.log(`screenshots: ${screenshots}`);
  demo = await startDemo();
  attacker = await startAttacker();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // playwright-core gives every launch a fresh, temporary user-data-dir. The network here is
    // closed: nothing may phone home.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  attacker?.close();
  demoProcess?.kill();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

function startDemo() {
  return new Promise((resolve, reject) => {
    demoProcess = spawn(demoBinary, [], {
      env: {
        ...process.env,
        PORT: '0',
        SESSILE_DB: path.join(workDir, 'demo.sqlite'),
        RUST_LOG: 'info',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onOutput = (chunk) => {
      demoLog += chunk;
      const found = demoLog.match(/sessile demo on (http:\/\/127\.0\.0\.1:\d+)/);
      if (found) resolve(found[1]);
    };
    demoProcess.stdout.on('data', onOutput);
    demoProcess.stderr.on('data', onOutput);
    demoProcess.on('error', (error) => reject(new Error(`cannot start ${demoBinary}: ${error.message}`)));
    demoProcess.on('exit', (code) => reject(new Error(`sessile-demo exited (${code}):\n${demoLog}`)));
  });
}

// The attacker's pages: /form auto-submits a form to the demo, /fetch sends a request with
// fetch(); both take the target in `to` and the fields as JSON in `fields`. Served on
// 127.0.0.1:P (the same site as the demo: another port of the same host) and localhost:P (another
// site).
function startAttacker() {
  return new Promise((resolve) => {
    const server = http.createServer((request, response) => {
      const url = new URL(request.url, 'http://attacker');
      const to = url.searchParams.get('to') ?? '/';
      const fields = JSON.parse(url.searchParams.get('fields') ?? '{}');
      const cookie = url.searchParams.get('cookie');
      const target = JSON.stringify(demo + to);
      const toss = cookie ? `document.cookie = ${JSON.stringify(cookie)};` : '';
      let script;
      if (url.pathname === '/form') {
        script = `${toss}
          const form = document.createElement('form');
          form.method = 'post';
          form.action = ${target};
          for (const [name, value] of Object.entries(${JSON.stringify(fields)})) {
            const input = document.createElement('input');
            input.type = 'hidden'; input.name = name; input.value = value;
            form.append(input);
          }
          document.body.append(form);
          form.submit();`;
      } else if (url.pathname === '/fetch') {
        script = `
          fetch(${target}, { method: 'POST', mode: 'no-cors', credentials: 'include',
                             body: new URLSearchParams(${JSON.stringify(fields)}) })
            .then(() => { document.title = 'sent'; }, (error) => { document.title = 'failed ' + error; });`;
      } else if (url.pathname === '/read') {
        script = `
          fetch(${target}, { credentials: 'include' })
            .then((response) => response.text())
            .then((text) => { document.title = 'read ' + text; },
                  (error) => { document.title = 'blocked ' + error; });`;
      } else {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><title>prize</title><h1>You won!</h1><script>${script}</script>`);
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// Where the attacker's pages are served from: another port of the demo's host (the same *site*,
// so SameSite=Lax cookies go along) and another host name (another site).
const attackerSites = [
  ['same site (127.0.0.1, another port)', '127.0.0.1'],
  ['cross site (localhost)', 'localhost'],
];
const attackerOrigin = (host) => `http://${host}:${attacker.address().port}`;

// A session of the attacker's own, made outside the browser: its cookie and a valid token.
async function attackersOwnSession() {
  const response = await fetch(`${demo}/api/csrf`);
  const cookie = response.headers.getSetCookie().find((line) => line.startsWith('id='));
  const { token } = await response.json();
  return { cookie: cookie.split(';')[0], token };
}

async function signIn(page, name) {
  await page.goto(`${demo}/`);
  await page.fill('#user', name);
  await page.click('button:has-text("Sign in")');
  await page.waitForSelector('h1:has-text("Hello,")');
}

const heading = (page) => page.textContent('h1');
const flashText = (page) => page.textContent('.flash');
const count = async (page) => Number((await page.textContent('#count')).match(/\d+/)[0]);
const currentKey = (page) => page.getAttribute('li.session.current', 'data-key');

async function sessionOf(context) {
  const response = await context.request.get(`${demo}/api/session`);
  assert.equal(response.status(), 200);
  return response.json();
}

async function sessionCookie(context) {
  return (await context.cookies(demo)).find((cookie) => cookie.name === 'id')?.value;
}

// Saves the page at 390 px and 1280 px wide and checks that nothing scrolls sideways at 390 px.
let shotNumber = 0;
async function screenshot(page, name) {
  shotNumber += 1;
  const file = (width) => path.join(screenshots, `${String(shotNumber).padStart(2, '0')}-${name}-${width}.png`);
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => ({
    scrollWidth: document.scrollingElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  await page.screenshot({ path: file(390), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: file(1280), fullPage: true });
  assert.ok(
    overflow.scrollWidth <= overflow.innerWidth,
    `${name}: the page is ${overflow.scrollWidth} px wide in a ${overflow.innerWidth} px window`,
  );
}

describe('the demo in Chromium', () => {
  test('two devices: sign in on both, count, list, revoke B from A, sign out everywhere else, sign out, back and reload', async () => {
    const laptop = await browser.newContext();
    const phone = await browser.newContext();
    const a = await laptop.newPage();
    const b = await phone.newPage();

    await signIn(a, 'alice');
    assert.equal(await flashText(a), 'Signed in as alice.');
    await signIn(b, 'alice');

    await a.click('button:has-text("Add one")');
    await a.click('button:has-text("Add one")');
    assert.equal(await count(a), 2);
    assert.equal(await flashText(a), 'Counted: you have clicked 2 times.');
    await b.click('button:has-text("Add one")');
    assert.equal(await count(b), 1, 'each device has its own count');

    await a.reload();
    assert.equal(await a.locator('li.session').count(), 2);
    assert.equal(await a.locator('li.session.current .badge').textContent(), 'This device');
    assert.equal(await a.locator('.flash').count(), 0, 'a message is shown once');
    const bKey = await currentKey(b);
    assert.notEqual(bKey, await currentKey(a));
    await a.click(`li.session[data-key="${bKey}"] button:has-text("Sign out")`);
    assert.match(await flashText(a), /^Signed out Chrome on Linux \(signed in .+ UTC\)\.$/);
    assert.equal(await a.locator('li.session').count(), 1);

    await b.reload();
    assert.equal(await heading(b), 'Sign in', 'B is signed out on its next load');
    assert.match(await flashText(b), /^You are signed out: this browser's session was ended/);
    assert.equal((await sessionOf(phone)).user, null);

    await signIn(b, 'alice');
    await a.reload();
    assert.equal(await a.locator('li.session').count(), 2);
    await a.click('button:has-text("Sign out everywhere else")');
    assert.equal(await flashText(a), 'Signed out 1 other session.');
    await b.reload();
    assert.equal(await heading(b), 'Sign in');
    assert.equal(await heading(a), 'Hello, alice');
    assert.equal(await count(a), 2, 'this device kept its data');

    await a.click('header button:has-text("Sign out")');
    assert.equal(await heading(a), 'Sign in');
    assert.equal(await flashText(a), 'You signed out.');
    await a.goBack();
    assert.equal(await heading(a), 'Sign in', 'the back button shows the signed-out state');
    assert.equal(await a.locator('text=Hello, alice').count(), 0);
    await a.reload();
    assert.equal(await heading(a), 'Sign in', 'a reload shows the signed-out state');
    assert.equal((await sessionOf(laptop)).user, null);

    await laptop.close();
    await phone.close();
  });

  test('JavaScript off: sign in, count, ask before signing this device out, cancel, sign out', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await signIn(page, 'noscript');
    await page.click('button:has-text("Add one")');
    assert.equal(await count(page), 1);
    await page.click('li.session.current button:has-text("Sign out")');
    assert.equal(await heading(page), 'Sign out of this device?');
    await page.click('text=Cancel, keep it signed in');
    assert.equal(await heading(page), 'Hello, noscript');
    await page.click('li.session.current button:has-text("Sign out")');
    await page.click('button:has-text("Yes, sign out this device")');
    assert.equal(await heading(page), 'Sign in');
    assert.equal(await flashText(page), 'You signed out of this device.');
    assert.equal((await sessionOf(context)).user, null);
    await context.close();
  });

  describe('attacks', () => {
    let victim; // a browser context signed in as "victim" with a count of 3
    let victimPage;
    let victimsPhone; // a second device of the victim's
    let phoneKey;
    let victimCookie;

    before(async () => {
      victim = await browser.newContext();
      victimsPhone = await browser.newContext();
      victimPage = await victim.newPage();
      const phonePage = await victimsPhone.newPage();
      await signIn(phonePage, 'victim');
      phoneKey = await currentKey(phonePage);
      await signIn(victimPage, 'victim');
      for (let i = 0; i < 3; i += 1) await victimPage.click('button:has-text("Add one")');
      victimCookie = await sessionCookie(victim);
    });

    after(async () => {
      await victim.close();
      await victimsPhone.close();
    });

    // The victim is still signed in, with the same cookie, data and count, and their phone too.
    async function assertVictimUntouched() {
      assert.equal(await sessionCookie(victim), victimCookie, 'the cookie was not replaced');
      assert.deepEqual(await sessionOf(victim), { user: 'victim', data: { count: 3 } });
      assert.equal((await sessionOf(victimsPhone)).user, 'victim', 'the phone is still signed in');
      await victimPage.goto(`${demo}/`);
      assert.equal(await heading(victimPage), 'Hello, victim');
      assert.equal(await count(victimPage), 3);
      assert.equal(await victimPage.locator('li.session').count(), 2);
    }

    // Opens an attacker page that posts a form to the demo and returns the demo's answer.
    async function formAttack(origin, to, fields, cookie) {
      const query = new URLSearchParams({ to, fields: JSON.stringify(fields) });
      if (cookie) query.set('cookie', cookie);
      const answer = victimPage.waitForResponse(
        (response) => response.url() === demo + to && response.request().method() === 'POST',
      );
      await victimPage.goto(`${origin}/form?${query}`);
      const response = await answer;
      await victimPage.waitForLoadState();
      return response;
    }

    const formAttacks = [
      ['count', '/count', () => ({})],
      ['revoke the phone', '/sessions/revoke', () => ({ key: phoneKey, confirm: 'yes' })],
      ['sign out everywhere else', '/sessions/revoke-others', () => ({})],
      ['sign out', '/logout', () => ({})],
      ['sign in as mallory (login CSRF)', '/login', () => ({ user: 'mallory' })],
    ];

    for (const [where, host] of attackerSites) {
      for (const [action, to, fields] of formAttacks) {
        test(`attack from ${where}: an auto-submitted form to ${action}, with the attacker's own token, is refused`, async () => {
          const { token } = await attackersOwnSession();
          const response = await formAttack(attackerOrigin(host), to, { ...fields(), _csrf: token });
          assert.equal(response.status(), 403);
          assert.match(await heading(victimPage), /^(Request refused|This form has expired)$/);
          await assertVictimUntouched();
        });
      }

      test(`attack from ${where}: fetch() posting to /api/count is refused`, async () => {
        const answer = victimPage.waitForResponse((response) => response.url() === `${demo}/api/count`);
        const { token } = await attackersOwnSession();
        const query = new URLSearchParams({ to: '/api/count', fields: JSON.stringify({ _csrf: token }) });
        await victimPage.goto(`${attackerOrigin(host)}/fetch?${query}`);
        assert.equal((await answer).status(), 403);
        await assertVictimUntouched();
      });

      test(`attack from ${where}: fetch() cannot read the victim's token from /api/csrf`, async () => {
        const query = new URLSearchParams({ to: '/api/csrf' });
        await victimPage.goto(`${attackerOrigin(host)}/read?${query}`);
        await victimPage.waitForFunction(() => document.title !== 'prize');
        assert.match(await victimPage.title(), /^blocked /);
        await assertVictimUntouched();
      });
    }

    test('attack from same site (127.0.0.1, another port): login CSRF with the attacker\'s cookie planted for /login is refused', async () => {
      // Cookies ignore ports: a page on another port of this host can set the demo's cookie, and
      // a more specific path makes the browser send it first. Only the origin check stops this:
      // the attacker's cookie and token belong together.
      const tossedVictim = await browser.newContext();
      const page = await tossedVictim.newPage();
      await signIn(page, 'victim2');
      const before = await sessionCookie(tossedVictim);
      const { cookie, token } = await attackersOwnSession();
      const query = new URLSearchParams({
        to: '/login',
        fields: JSON.stringify({ user: 'mallory', _csrf: token }),
        cookie: `${cookie}; path=/login`,
      });
      const answer = page.waitForResponse((response) => response.url() === `${demo}/login`);
      await page.goto(`${attackerOrigin('127.0.0.1')}/form?${query}`);
      assert.equal((await answer).status(), 403);
      assert.equal(await sessionCookie(tossedVictim), before, 'the cookie was not replaced');
      assert.equal((await sessionOf(tossedVictim)).user, 'victim2');
      await tossedVictim.close();
    });

    test('forgery on the demo\'s own page: a form posted without the token is refused', async () => {
      await victimPage.goto(`${demo}/`);
      const answer = victimPage.waitForResponse((response) => response.url() === `${demo}/count`);
      await victimPage.evaluate(() => {
        const form = document.createElement('form');
        form.method = 'post';
        form.action = '/count';
        document.body.append(form);
        form.submit();
      });
      assert.equal((await answer).status(), 403);
      await victimPage.waitForLoadState();
      assert.equal(await heading(victimPage), 'This form has expired');
      await assertVictimUntouched();
    });

    test('forgery on the demo\'s own page: fetch() posting to /api/count without the token is refused', async () => {
      await victimPage.goto(`${demo}/`);
      const status = await victimPage.evaluate(async () => (await fetch('/api/count', { method: 'POST' })).status);
      assert.equal(status, 403);
      await assertVictimUntouched();
    });
  });

  test('layout: every page state at 390 and 1280 px, no horizontal overflow at 390 px', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${demo}/`);
    await screenshot(page, 'signed-out');

    await signIn(page, 'alice');
    await screenshot(page, 'signed-in');
    await page.click('button:has-text("Add one")');
    await screenshot(page, 'counted');

    const others = [];
    for (let i = 0; i < 2; i += 1) {
      const other = await browser.newContext();
      const otherPage = await other.newPage();
      await signIn(otherPage, 'alice');
      others.push({ context: other, page: otherPage });
    }
    await page.reload();
    await screenshot(page, 'three-devices');

    await page.click('li.session.current button:has-text("Sign out")');
    await screenshot(page, 'confirm-sign-out-this-device');
    await page.click('text=Cancel, keep it signed in');

    const revoked = others[0];
    await page.click(`li.session[data-key="${await currentKey(revoked.page)}"] button:has-text("Sign out")`);
    await screenshot(page, 'signed-out-another-device');
    await revoked.page.reload();
    await screenshot(revoked.page, 'revoked-device-next-load');

    await page.click('button:has-text("Sign out everywhere else")');
    await screenshot(page, 'signed-out-everywhere-else');

    // A page left open from before a sign-out elsewhere: its form's token is stale.
    const stale = await context.newPage();
    await stale.goto(`${demo}/`);
    await page.click('header button:has-text("Sign out")');
    await screenshot(page, 'after-sign-out');
    await stale.click('button:has-text("Add one")');
    await screenshot(stale, 'expired-form');

    const long = await browser.newContext();
    const longPage = await long.newPage();
    await signIn(longPage, 'W'.repeat(64));
    await screenshot(longPage, 'long-name');

    await page.goto(`${demo}/no-such-page`);
    await screenshot(page, 'not-found');
    await page.goto(`${demo}/logout`);
    await screenshot(page, 'method-not-allowed');
    const query = new URLSearchParams({ to: '/count', fields: '{}' });
    await page.goto(`${attackerOrigin('localhost')}/form?${query}`);
    await page.waitForURL(`${demo}/count`);
    await screenshot(page, 'refused-cross-origin');

    for (const other of others) await other.context.close();
    await long.close();
    await context.close();
  });

  test('the favicon is served and linked from every page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    for (const icon of ['/favicon.ico', '/favicon.svg']) {
      const response = await page.goto(demo + icon);
      assert.equal(response.status(), 200, icon);
      assert.equal(response.headers()['content-type'], 'image/svg+xml', icon);
    }
    for (const address of ['/', '/no-such-page']) {
      await page.goto(demo + address);
      assert.equal(await page.getAttribute('link[rel="icon"]', 'href'), '/favicon.svg', address);
    }
    await context.close();
  });
});
