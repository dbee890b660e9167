#!/usr/bin/env node
// Produces store-vectors.json for sessile-node's tests (tests/it/store_vectors.rs): the documents the
// REAL npm packages (versions pinned in package-lock.json) hand their session store, captured by
// an in-memory store that records every call, with Date.now fixed per request, plus the text
// Sequelize writes into an SQLite DATE column.
//
//   npm ci --prefix crates/sessile-node/tests/node
//   node crates/sessile-node/tests/node/gen-store-vectors.js > crates/sessile-node/tests/node/store-vectors.json
//
// Each app is driven over real HTTP on 127.0.0.1 with one cookie jar per scenario:
//   step "login"  at NOW:          session.name = 'Zoë ☃ 日本語 😀'; session.n = 42; session.user = 'alice'
//   step "change" at NOW + 60000:  session.n = 43; session.theme = 'dark'   (a key added after `user`)
// The clock is fixed by the `x-test-now` request header (Date.now returns it during the request).
// Session ids are fixed where the package takes a generator; koa-session-minimal's own random id
// is replaced by `{sid}` in the recorded keys.
//
// Per recorded `set`, the vector gives what a store built on that call keeps:
//   document        the JSON text the package's stores write (they all JSON.stringify the object)
//   store_arg       the lifetime argument the package passes (koa-session: maxAge incl. its +10 s,
//                   or "session"; koa-generic-session / koa-session-minimal: ttl in ms; express:
//                   none, its stores read cookie.expires)
//   store_deadline  the expiry a TTL store (koa-redis / connect-redis) keeps outside the document:
//                   now + store_arg, null when the store sets no TTL; for express-session without
//                   cookie.expires, connect-redis' and connect-session-sequelize's default one day
//   expected        what the package reads back: data (without its bookkeeping and without
//                   `user`), user, and the deadline it goes by (koa-session `_expire`, else the
//                   store's; express `cookie.expires`, else the store's; the others the store's;
//                   null: no expiry at all, the key lives until deleted)
//   sessile         the NodeJson settings (shape, max_age_ms, expiring) matching the app's options
'use strict';

const { clock, listen, request, Jar, login, change } = require('./http-plumbing');
const Koa = require('koa');
const koaSession = require('koa-session').default;
const genericSession = require('koa-generic-session');
const minimalSession = require('koa-session-minimal');
const express = require('express');
const expressSession = require('express-session');
const { Sequelize, DataTypes } = require('sequelize');

const NOW = 1700000000000;
const LATER = NOW + 60000;
const ONE_DAY = 86400000;
const pkgVersion = (name) => require(`${name}/package.json`).version;

// Runs the two steps against `handler`; `calls` is the recorder's log, cut per step.
async function drive(handler, calls) {
  const server = await listen(handler);
  const port = server.address().port;
  const jar = new Jar();
  const steps = [];
  for (const [step, now] of [['login', NOW], ['change', LATER]]) {
    const start = calls.length;
    const headers = { 'x-test-now': String(now) };
    if (jar.cookies.size) headers.cookie = jar.header();
    const res = await request(port, `/${step}`, headers);
    if (res.status !== 200) throw new Error(`/${step} answered ${res.status}: ${res.body}`);
    jar.take(res.setCookies);
    steps.push({ step, now, calls: calls.slice(start), set_cookies: res.setCookies });
  }
  await new Promise((resolve) => server.close(resolve));
  return steps;
}

// The Koa routes every Koa scenario shares; the clock middleware goes first.
function koaApp(sessionMiddleware, keys) {
  const app = new Koa();
  if (keys) app.keys = keys;
  app.use(async (ctx, next) => {
    const now = ctx.get('x-test-now');
    clock.at(now);
    try { await next(); } finally { clock.at(null); }
  });
  app.use(sessionMiddleware(app));
  app.use((ctx) => {
    if (ctx.path === '/login') login(ctx.session);
    else if (ctx.path === '/change') change(ctx.session);
    else { ctx.status = 404; return; }
    ctx.body = 'ok';
  });
  return app.callback();
}

// A recording key-value store: remembers each document as the JSON text its real counterparts
// write, hands back JSON.parse of it (as koa-redis, the Sequelize stores and connect-redis do).
function recorder() {
  const calls = [];
  const docs = new Map();
  return {
    calls,
    get(key) {
      const text = docs.get(key);
      calls.push({ op: 'get', key, found: text === undefined ? null : text });
      return text === undefined ? undefined : JSON.parse(text);
    },
    set(key, value, storeArg) {
      const text = JSON.stringify(value);
      docs.set(key, text);
      calls.push({ op: 'set', key, document: text, store_arg: storeArg === undefined ? null : storeArg });
    },
    destroy(key) {
      docs.delete(key);
      calls.push({ op: 'destroy', key });
    },
  };
}

// ---------------------------------------------------------------- the four packages

function withoutKeys(object, drop) {
  const out = {};
  for (const [k, v] of Object.entries(object)) if (!drop(k)) out[k] = v;
  return out;
}

// One vector per recorded `set`.
function vectorsFrom(pkg, setting, sessile, steps, expect) {
  const out = [];
  for (const { step, now, calls, set_cookies: setCookies } of steps) {
    const sets = calls.filter((c) => c.op === 'set');
    if (sets.length !== 1) throw new Error(`${pkg} ${setting} ${step}: ${sets.length} store writes: ${JSON.stringify(calls)}`);
    const { key, document, store_arg: storeArg } = sets[0];
    const parsed = JSON.parse(document);
    const { storeDeadline, deadline, drop } = expect(parsed, storeArg, now);
    const data = withoutKeys(parsed, (k) => drop(k) || k === 'user');
    out.push({
      package: pkg, setting, step, now, key, store_arg: storeArg, document,
      store_deadline: storeDeadline,
      expected: { data, user: typeof parsed.user === 'string' ? parsed.user : null, deadline },
      sessile, calls, set_cookies: setCookies,
    });
  }
  return out;
}

async function koaSessionVectors() {
  const settings = [
    { setting: 'maxAge 3600000', opts: { maxAge: 3600000 }, sessile: { max_age_ms: 3600000, expiring: true } },
    { setting: 'maxAge unset (browser-session cookie, _expire one day)', opts: {}, sessile: { max_age_ms: ONE_DAY, expiring: false } },
    { setting: "maxAge 'session'", opts: { maxAge: 'session' }, sessile: { max_age_ms: ONE_DAY, expiring: false } },
  ];
  const out = [];
  for (const s of settings) {
    const rec = recorder();
    const store = {
      get: (key, maxAge, options) => rec.get(key),
      set: (key, sess, maxAge, options) => rec.set(key, sess, maxAge),
      destroy: (key) => rec.destroy(key),
    };
    let ids = 0;
    const handler = koaApp((app) => koaSession({ ...s.opts, store, genid: () => `koa-session-id-${++ids}` }, app), ['k1']);
    const steps = await drive(handler, rec.calls);
    out.push(...vectorsFrom('koa-session', s.setting, { shape: 'KoaSession', ...s.sessile }, steps, (doc, storeArg, now) => {
      const storeDeadline = typeof storeArg === 'number' ? now + storeArg : null;
      return {
        storeDeadline,
        deadline: typeof doc._expire === 'number' ? doc._expire : storeDeadline,
        drop: (k) => k.startsWith('_'),
      };
    }));
  }
  return out;
}

async function genericSessionVectors() {
  const settings = [
    { setting: 'cookie unset (maxAge one day)', opts: {}, sessile: { max_age_ms: ONE_DAY, expiring: true } },
    { setting: 'cookie.maxAge 3600000', opts: { cookie: { maxAge: 3600000 } }, sessile: { max_age_ms: 3600000, expiring: true } },
    { setting: 'cookie.maxAge null (browser-session cookie)', opts: { cookie: { maxAge: null } }, sessile: { max_age_ms: ONE_DAY, expiring: false } },
  ];
  const out = [];
  for (const s of settings) {
    const rec = recorder();
    const store = { get: (sid) => rec.get(sid), set: (sid, sess, ttl) => rec.set(sid, sess, ttl), destroy: (sid) => rec.destroy(sid) };
    let ids = 0;
    const handler = koaApp(() => genericSession({ ...s.opts, store, genSid: () => `generic-id-${++ids}` }), ['k1']);
    const steps = await drive(handler, rec.calls);
    out.push(...vectorsFrom('koa-generic-session', s.setting, { shape: 'GenericSession', ...s.sessile }, steps, (doc, storeArg, now) => {
      const storeDeadline = typeof storeArg === 'number' ? now + storeArg : null;
      return { storeDeadline, deadline: storeDeadline, drop: (k) => k === 'cookie' };
    }));
  }
  return out;
}

async function minimalSessionVectors() {
  const settings = [
    { setting: 'cookie.maxAge 3600000', opts: { cookie: { maxAge: 3600000 } }, sessile: { max_age_ms: 3600000, expiring: true } },
    { setting: 'cookie unset (browser-session cookie, store ttl one day)', opts: {}, sessile: { max_age_ms: ONE_DAY, expiring: false } },
  ];
  const out = [];
  for (const s of settings) {
    const rec = recorder();
    let sid = null;
    const store = {
      get: (key) => rec.get(key),
      set: (key, value, ttl) => rec.set(key, value, ttl),
      destroy: (key) => rec.destroy(key),
    };
    const handler = koaApp(() => minimalSession({ ...s.opts, store }));
    const steps = await drive(handler, rec.calls);
    // The package's own random id (uid-safe) becomes `{sid}`.
    for (const step of steps) {
      for (const call of step.calls) {
        const m = /^koa:sess:(.+)$/.exec(call.key);
        if (!m) throw new Error(`unexpected key ${call.key}`);
        if (sid === null) sid = m[1];
        if (m[1] !== sid) throw new Error('koa-session-minimal changed its id');
        call.key = 'koa:sess:{sid}';
      }
      step.set_cookies = step.set_cookies.map((c) => c.split(sid).join('{sid}'));
    }
    out.push(...vectorsFrom('koa-session-minimal', s.setting, { shape: 'SessionMinimal', ...s.sessile }, steps, (doc, storeArg, now) => {
      const storeDeadline = now + storeArg;
      return { storeDeadline, deadline: storeDeadline, drop: () => false };
    }));
  }
  return out;
}

async function expressVectors() {
  const settings = [
    { setting: 'cookie.maxAge 3600000', cookie: { maxAge: 3600000 }, sessile: { max_age_ms: 3600000, expiring: true } },
    { setting: 'cookie unset (browser-session cookie, store default one day)', cookie: {}, sessile: { max_age_ms: ONE_DAY, expiring: false } },
  ];
  const out = [];
  for (const s of settings) {
    const rec = recorder();
    class RecordingStore extends expressSession.Store {
      get(sid, cb) { let v; try { v = rec.get(sid); } catch (e) { return cb(e); } cb(null, v); }
      set(sid, sess, cb) { rec.set(sid, sess, undefined); cb(null); }
      destroy(sid, cb) { rec.destroy(sid); cb(null); }
    }
    let ids = 0;
    const app = express();
    app.use((req, res, next) => {
      const now = req.get('x-test-now');
      clock.at(now);
      res.on('finish', () => clock.at(null));
      next();
    });
    app.use(expressSession({
      secret: 'keyboard cat', store: new RecordingStore(), resave: false, saveUninitialized: false,
      cookie: s.cookie, genid: () => `express-id-${++ids}`,
    }));
    app.get('/login', (req, res) => { login(req.session); res.send('ok'); });
    app.get('/change', (req, res) => { change(req.session); res.send('ok'); });
    const steps = await drive(app, rec.calls);
    out.push(...vectorsFrom('express-session', s.setting, { shape: 'Express', ...s.sessile }, steps, (doc, storeArg, now) => {
      const expires = doc.cookie && doc.cookie.expires ? Date.parse(doc.cookie.expires) : null;
      const storeDeadline = expires === null ? now + ONE_DAY : expires;
      return { storeDeadline, deadline: expires === null ? storeDeadline : expires, drop: (k) => k === 'cookie' };
    }));
  }
  return out;
}

// ---------------------------------------------------------------- Sequelize's SQLite DATE text

async function sequelizeSqliteDates() {
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  const Row = sequelize.define('Row', { at: DataTypes.DATE }, { tableName: 'dates', timestamps: false });
  await sequelize.sync();
  const instants = [NOW, NOW + 3600000, 1700000000123, 0, -1, 951782400999, 4102444800000, 253402300799999];
  const out = [];
  for (const ms of instants) {
    const row = await Row.create({ at: new Date(ms) });
    const [raw] = await sequelize.query('SELECT at, typeof(at) AS type FROM dates WHERE id = ?', { replacements: [row.id], type: Sequelize.QueryTypes.SELECT });
    const back = await Row.findByPk(row.id);
    out.push({ epoch_ms: ms, text: raw.at, sqlite_type: raw.type, read_back_ms: back.at.getTime() });
  }
  await sequelize.close();
  return out;
}

async function main() {
  const vectors = {
    generated_by: 'node crates/sessile-node/tests/node/gen-store-vectors.js > crates/sessile-node/tests/node/store-vectors.json',
    now: NOW,
    node: process.version,
    packages: Object.fromEntries(['koa', 'koa-session', 'koa-generic-session', 'koa-session-minimal', 'express', 'express-session', 'sequelize', 'sqlite3']
      .map((name) => [name, pkgVersion(name)])),
    documents: [
      ...await koaSessionVectors(),
      ...await genericSessionVectors(),
      ...await minimalSessionVectors(),
      ...await expressVectors(),
    ],
    sequelize_sqlite_dates: await sequelizeSqliteDates(),
  };
  process.stdout.write(JSON.stringify(vectors, null, 2) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
