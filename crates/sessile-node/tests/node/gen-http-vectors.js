#!/usr/bin/env node
// Produces http-vectors.json for sessile-node-interop's tests (tests/it/node_http.rs): what the
// REAL npm packages (versions pinned in package-lock.json) answer, header by header, and what
// they leave in their store, for every case they tell apart (issue 13, point 2).
//
//   npm ci --prefix crates/sessile-node/tests/node
//   node crates/sessile-node/tests/node/gen-http-vectors.js > crates/sessile-node/tests/node/http-vectors.json
//
// Each scenario runs one real app over real HTTP on 127.0.0.1 with a fresh cookie jar and a
// fresh recording store, one request per step. Per step the clock is fixed (`Date.now`, the
// `x-test-now` header), and so are the app's keys (`x-test-keys`: Koa's `app.keys`,
// express-session's `secret`). Ids are fixed: `genid` / `genSid` where the package takes one,
// uid-safe's `sync` for koa-session-minimal. Actions:
//   login   session.name = 'Zoë ☃ 日本語 😀'; session.n = 42; session.user = 'alice'
//   change  session.n = 43; session.theme = 'dark'
//   read    reads the session (nothing changes)
//   logout  ends the session (`ctx.session = null`, `req.session.destroy()`)
// A step may `tamper` with the request: `signature` replaces the signature (`NAME.sig`, the
// HMAC in `s:<id>.<sig>`) with a wrong one, `no-signature` leaves Koa's `NAME.sig` out.
// Otherwise the request carries the jar's cookies,
// which the jar keeps whatever their `expires` (a browser with a skewed clock, a replay).
//
// The recording store behaves like koa-redis / connect-redis: a key lives until its TTL (what
// the package passes: koa-session's maxAge incl. its +10 s, koa-generic-session's and
// koa-session-minimal's ttl, express-session's cookie.expires or connect-redis' one-day
// default), `touch` moves the TTL and leaves the document as it is.
//
// The clock stands in 2100 (the Rust side's Redis keys expire at absolute times).
//
// Per step the vector gives: the request's Cookie header, the response's Set-Cookie lines
// (exact, in order), the store calls and the store's documents afterwards (exact JSON text,
// by the id the package's cookie carries).
'use strict';

const { clock, listen, request, Jar, login, change } = require('./http-plumbing');
const Koa = require('koa');
const koaSession = require('koa-session').default;
const genericSession = require('koa-generic-session');
const express = require('express');
const expressSession = require('express-session');

// koa-session-minimal draws its ids from uid-safe's `sync`: replace it before the package binds it.
const uidSafe = require(require.resolve('uid-safe', { paths: [require.resolve('koa-session-minimal')] }));
let nextMinimalId = null;
uidSafe.sync = () => nextMinimalId();
const minimalSession = require('koa-session-minimal');

// In the future, so that a real Redis keeps the keys the Rust side writes at this clock.
const NOW = 4102444800000; // 2100-01-01
const MAX_AGE = 3600000;
const ONE_DAY = 86400000;
const KEYS = ['k1'];
const ROTATED = ['k2', 'k1'];
const NEW_ONLY = ['k2'];

const pkgVersion = (name) => require(`${name}/package.json`).version;

// ---------------------------------------------------------------- the recording store

// Documents as JSON text with a deadline, as koa-redis / connect-redis keep them.
function recorder() {
  const calls = [];
  const docs = new Map();
  const live = (key) => {
    const doc = docs.get(key);
    if (doc && doc.deadline !== null && doc.deadline <= Date.now()) docs.delete(key);
    return docs.get(key);
  };
  return {
    calls,
    docs,
    get(key) {
      const doc = live(key);
      calls.push({ op: 'get', key, found: doc ? doc.text : null });
      return doc ? JSON.parse(doc.text) : undefined;
    },
    set(key, value, ttl) {
      const text = JSON.stringify(value);
      const deadline = typeof ttl === 'number' ? Date.now() + ttl : null;
      docs.set(key, { text, deadline });
      calls.push({ op: 'set', key, document: text, ttl: typeof ttl === 'number' ? ttl : null });
    },
    touch(key, ttl) {
      const doc = live(key);
      if (doc) doc.deadline = Date.now() + ttl;
      calls.push({ op: 'touch', key, ttl });
    },
    destroy(key) {
      docs.delete(key);
      calls.push({ op: 'destroy', key });
    },
  };
}

// express-session's stores (connect-redis) keep a session until cookie.expires, else one day.
const expressTtl = (sess) => (sess.cookie && sess.cookie.expires
  ? new Date(sess.cookie.expires).getTime() - Date.now()
  : ONE_DAY);

// ---------------------------------------------------------------- the apps

// A Koa app: clock and keys per request, then the session middleware, then the actions.
function koaApp(middleware) {
  const app = new Koa();
  app.keys = KEYS;
  app.use(async (ctx, next) => {
    clock.at(ctx.get('x-test-now'));
    const keys = ctx.get('x-test-keys');
    app.keys = keys ? JSON.parse(keys) : KEYS;
    try { await next(); } finally { clock.at(null); }
  });
  app.use(middleware(app));
  app.use((ctx) => {
    if (ctx.path === '/login') login(ctx.session);
    else if (ctx.path === '/change') change(ctx.session);
    else if (ctx.path === '/read') ctx.body = { session: ctx.session };
    else if (ctx.path === '/logout') ctx.session = null;
    else { ctx.status = 404; return; }
    if (!ctx.body) ctx.body = 'ok';
  });
  return app.callback();
}

// An express app per secret list (express-session takes its secrets once), one store for all.
function expressApp(cookie, rec, ids) {
  class RecordingStore extends expressSession.Store {
    get(sid, cb) { cb(null, rec.get(sid)); }
    set(sid, sess, cb) { rec.set(sid, sess, expressTtl(sess)); cb(null); }
    touch(sid, sess, cb) { rec.touch(sid, expressTtl(sess)); cb(null); }
    destroy(sid, cb) { rec.destroy(sid); cb(null); }
  }
  const store = new RecordingStore();
  const apps = new Map();
  const appFor = (secrets) => {
    if (!apps.has(secrets)) {
      const app = express();
      app.use(expressSession({
        secret: JSON.parse(secrets), store, resave: false, saveUninitialized: false,
        cookie: { ...cookie }, genid: () => ids(),
      }));
      app.get('/login', (req, res) => { login(req.session); res.send('ok'); });
      app.get('/change', (req, res) => { change(req.session); res.send('ok'); });
      app.get('/read', (req, res) => { res.send({ session: req.session }); });
      app.get('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.send('ok'))));
      apps.set(secrets, app);
    }
    return apps.get(secrets);
  };
  return (req, res) => {
    clock.at(req.headers['x-test-now']);
    res.on('finish', () => clock.at(null));
    appFor(req.headers['x-test-keys'] || JSON.stringify(KEYS))(req, res);
  };
}

// The stacks: how each builds its app on a recorder, and the id its cookie carries for a key.
const STACKS = {
  'koa-session cookie': {
    app: (opts, rec) => koaApp((app) => koaSession({ ...opts }, app)),
    signature: (jar, name) => `${name}.sig`,
    key: null,
  },
  'koa-session store': {
    app: (opts, rec, ids) => koaApp((app) => koaSession({
      ...opts,
      genid: () => ids(),
      store: {
        get: (key) => rec.get(key),
        set: (key, sess, maxAge) => rec.set(key, sess, maxAge),
        destroy: (key) => rec.destroy(key),
      },
    }, app)),
    signature: (jar, name) => `${name}.sig`,
    key: (id) => id,
  },
  'koa-generic-session': {
    app: (opts, rec, ids) => koaApp(() => genericSession({
      ...opts,
      genSid: () => ids(),
      store: { get: (sid) => rec.get(sid), set: (sid, sess, ttl) => rec.set(sid, sess, ttl), destroy: (sid) => rec.destroy(sid) },
    })),
    signature: (jar, name) => `${name}.sig`,
    key: (id) => `koa:sess:${id}`,
  },
  'koa-session-minimal': {
    app: (opts, rec, ids) => {
      nextMinimalId = ids;
      return koaApp(() => minimalSession({
        ...opts,
        store: { get: (key) => rec.get(key), set: (key, value, ttl) => rec.set(key, value, ttl), destroy: (key) => rec.destroy(key) },
      }));
    },
    signature: null,
    key: (id) => `koa:sess:${id}`,
  },
  'express-session': {
    app: (opts, rec, ids) => expressApp(opts.cookie || {}, rec, ids),
    signature: 'inline',
    key: (id) => id,
  },
};

// ---------------------------------------------------------------- the cases

const at = (ms) => NOW + ms;
const CASES = {
  first_save: [{ action: 'login', at: at(0) }],
  later_save: [{ action: 'login', at: at(0) }, { action: 'change', at: at(60000) }],
  read_only: [{ action: 'login', at: at(0) }, { action: 'read', at: at(60000) }],
  // Late enough in the session's life that sessile's default touch throttle (a quarter of the
  // lifetime) asks for a touch.
  touch: [{ action: 'login', at: at(0) }, { action: 'read', at: at(0.4 * MAX_AGE) }],
  // koa-session's `renew`: a read just before and just after half the lifetime is left.
  renew_boundary: [
    { action: 'login', at: at(0) },
    { action: 'read', at: at(MAX_AGE / 2 - 1000) },
    { action: 'read', at: at(MAX_AGE / 2 + 1000) },
  ],
  stale_key: [
    { action: 'login', at: at(0), keys: KEYS },
    { action: 'read', at: at(60000), keys: ROTATED },
    { action: 'change', at: at(120000), keys: ROTATED },
  ],
  rotated_secret: [{ action: 'login', at: at(0), keys: KEYS }, { action: 'read', at: at(60000), keys: NEW_ONLY }],
  refused_cookie: [{ action: 'login', at: at(0) }, { action: 'read', at: at(60000), tamper: 'signature' }],
  // Koa's `NAME.sig` left out: `cookies.get` answers undefined, no cookie at all.
  missing_signature: [{ action: 'login', at: at(0) }, { action: 'read', at: at(60000), tamper: 'no-signature' }],
  expired_cookie: [{ action: 'login', at: at(0) }, { action: 'read', at: at(MAX_AGE + 60000) }],
  destroy: [{ action: 'login', at: at(0) }, { action: 'logout', at: at(60000) }],
  // For the settings below: saves and a read under that setting.
  saves: [{ action: 'login', at: at(0) }, { action: 'change', at: at(60000) }, { action: 'read', at: at(120000) }],
};
const EVERY_CASE = ['first_save', 'later_save', 'read_only', 'touch', 'stale_key', 'rotated_secret', 'refused_cookie', 'expired_cookie', 'destroy'];
const KOA_SIGNED_CASES = [...EVERY_CASE, 'missing_signature'];
const UNSIGNED_CASES = ['first_save', 'later_save', 'read_only', 'touch', 'expired_cookie', 'destroy'];

// Per stack, each setting (the package's options, what the Rust side sets) and its cases.
const SCENARIOS = [
  ['koa-session cookie', 'maxAge 3600000', { maxAge: MAX_AGE }, { max_age_ms: MAX_AGE }, KOA_SIGNED_CASES],
  ['koa-session cookie', 'maxAge unset (one day)', {}, { max_age_ms: ONE_DAY, default_max_age: true }, ['saves']],
  ['koa-session cookie', "maxAge 'session'", { maxAge: 'session' }, { max_age_ms: ONE_DAY, session_max_age: true }, ['saves']],
  ['koa-session cookie', 'renew', { maxAge: MAX_AGE, renew: true }, { max_age_ms: MAX_AGE, renew: true }, ['renew_boundary']],
  ['koa-session cookie', 'signed: false', { maxAge: MAX_AGE, signed: false }, { max_age_ms: MAX_AGE, signed: false }, ['saves']],
  ['koa-session store', 'maxAge 3600000', { maxAge: MAX_AGE }, { max_age_ms: MAX_AGE }, KOA_SIGNED_CASES],
  ['koa-session store', 'maxAge unset (one day)', {}, { max_age_ms: ONE_DAY, default_max_age: true }, ['saves']],
  ['koa-session store', "maxAge 'session'", { maxAge: 'session' }, { max_age_ms: ONE_DAY, session_max_age: true }, ['saves']],
  ['koa-session store', 'renew', { maxAge: MAX_AGE, renew: true }, { max_age_ms: MAX_AGE, renew: true }, ['renew_boundary']],
  ['koa-session store', 'signed: false', { maxAge: MAX_AGE, signed: false }, { max_age_ms: MAX_AGE, signed: false }, ['saves']],
  ['koa-generic-session', 'cookie.maxAge 3600000', { cookie: { maxAge: MAX_AGE } }, { max_age_ms: MAX_AGE }, KOA_SIGNED_CASES],
  ['koa-generic-session', 'cookie.maxAge null (browser-session cookie)', { cookie: { maxAge: null } }, { max_age_ms: ONE_DAY, expiring: false }, ['saves']],
  ['koa-generic-session', 'cookie.signed false', { cookie: { maxAge: MAX_AGE, signed: false } }, { max_age_ms: MAX_AGE, signed: false }, ['saves']],
  ['koa-session-minimal', 'cookie.maxAge 3600000', { cookie: { maxAge: MAX_AGE } }, { max_age_ms: MAX_AGE }, UNSIGNED_CASES],
  ['koa-session-minimal', 'cookie unset (browser-session cookie)', {}, { max_age_ms: ONE_DAY, expiring: false }, ['saves']],
  ['express-session', 'cookie.maxAge 3600000', { cookie: { maxAge: MAX_AGE } }, { max_age_ms: MAX_AGE }, EVERY_CASE],
  ['express-session', 'cookie unset (browser-session cookie)', { cookie: {} }, { max_age_ms: ONE_DAY, expiring: false }, ['saves']],
];

// The request's Cookie header with the signature made wrong, or (`no-signature`) left out.
function tampered(stack, jar, how) {
  const cookies = new Map(jar.cookies);
  for (const [name, value] of cookies) {
    if (how === 'no-signature') {
      if (name.endsWith('.sig')) cookies.delete(name);
    } else if (stack.signature === 'inline' && value.startsWith('s%3A')) {
      cookies.set(name, value.replace(/\.[^.]*$/, '.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
    } else if (stack.signature && name.endsWith('.sig')) {
      cookies.set(name, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA');
    }
  }
  return [...cookies].map(([n, v]) => `${n}=${v}`).join('; ');
}

async function runScenario([stackName, setting, opts, sessile, cases]) {
  const stack = STACKS[stackName];
  const out = [];
  for (const caseName of cases) {
    const rec = recorder();
    const prefix = { 'koa-session store': 'koa-session-id', 'koa-generic-session': 'generic-id', 'koa-session-minimal': 'minimal-id', 'express-session': 'express-id' }[stackName];
    let counter = 0;
    const ids = () => `${prefix}-${++counter}`;
    const server = await listen(stack.app(opts, rec, ids));
    const port = server.address().port;
    const jar = new Jar();
    const steps = [];
    for (const step of CASES[caseName]) {
      const headers = { 'x-test-now': String(step.at) };
      if (step.keys) headers['x-test-keys'] = JSON.stringify(step.keys);
      const cookie = step.tamper ? tampered(stack, jar, step.tamper) : jar.header();
      if (cookie) headers.cookie = cookie;
      const start = rec.calls.length;
      const res = await request(port, `/${step.action}`, headers);
      if (res.status !== 200) throw new Error(`${stackName} ${setting} ${caseName} /${step.action} answered ${res.status}: ${res.body}`);
      jar.take(res.setCookies);
      const documents = {};
      clock.at(step.at);
      for (const [key, doc] of [...rec.docs].sort()) {
        if (doc.deadline === null || doc.deadline > step.at) documents[key] = doc.text;
      }
      clock.at(null);
      steps.push({
        action: step.action,
        now: step.at,
        keys: step.keys || KEYS,
        tamper: step.tamper || null,
        cookie: cookie || null,
        set_cookies: res.setCookies,
        store_calls: rec.calls.slice(start),
        documents,
      });
    }
    await new Promise((resolve) => server.close(resolve));
    // The ids that reached a client or the store, in order: the Rust side issues the same.
    const issued = [];
    for (let n = 1; n <= counter; n++) {
      const id = `${prefix}-${n}`;
      if (steps.some((s) => s.set_cookies.some((c) => c.includes(id)) || Object.keys(s.documents).some((k) => k.endsWith(id)))) issued.push(id);
    }
    out.push({ stack: stackName, setting, case: caseName, sessile: { signed: true, expiring: true, session_max_age: false, renew: false, default_max_age: false, app_cookie_keys: Object.keys(opts.cookie || {}), ...sessile }, store_prefix: stack.key ? stack.key('') : null, issued_ids: issued, steps });
  }
  return out;
}

async function main() {
  const scenarios = [];
  for (const scenario of SCENARIOS) scenarios.push(...await runScenario(scenario));
  const vectors = {
    generated_by: 'node crates/sessile-node/tests/node/gen-http-vectors.js > crates/sessile-node/tests/node/http-vectors.json',
    node: process.version,
    packages: Object.fromEntries(['koa', 'koa-session', 'koa-generic-session', 'koa-session-minimal', 'express', 'express-session', 'cookies', 'uid-safe']
      .map((name) => [name, pkgVersion(name)])),
    scenarios,
  };
  process.stdout.write(JSON.stringify(vectors, null, 2) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
