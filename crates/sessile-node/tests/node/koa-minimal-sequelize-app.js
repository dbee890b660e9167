#!/usr/bin/env node
// A real Koa app: koa-session-minimal over koa-generic-session-sequelize's store, for the
// Sequelize interop tests (sessile-sql: tests/it/sequelize_interop.rs). Prints `{"port":N}` once
// it listens and exits when stdin closes.
//
// Environment:
//   SEQ_URL    Sequelize connection URL (sqlite:/path/file.db, postgres://..., mysql://...)
//   SEQ_TABLE  the session table (the store's tableName)
//   MAX_AGE    cookie.maxAge in ms (the store's TTL; sessile's idle timeout on the Rust side)
// Test-only request header (the tests send one request at a time):
//   x-test-now   fixes Date.now() for this request (ms since the epoch)
// Routes (the shared interop contract, see tests/support/mod.rs): /login?user=U, /set?k=K&v=V,
// /whoami, /logout (`ctx.session = null`), plus /clear (`ctx.session = {}`).
'use strict';

const Koa = require('koa');
const session = require('koa-session-minimal');
const SequelizeStore = require('koa-generic-session-sequelize');
const { Sequelize } = require('sequelize');

const realNow = Date.now;
let fakeNow = null;
Date.now = () => (fakeNow === null ? realNow() : fakeNow);

const MAX_AGE = Number(process.env.MAX_AGE || 3600000);
const sequelize = new Sequelize(process.env.SEQ_URL, { logging: false });
const store = new SequelizeStore(sequelize, {
  tableName: process.env.SEQ_TABLE,
  gcFrequency: 0, // no random cleanup: the tests decide when rows go
});

// koa-session-minimal calls the store's `set` and `destroy` without waiting for them, so its
// response can reach the test before the row changes. The package's calls go through as they
// are; the app only holds its response until the last one finished, so that the test's next
// request (or its look at the table) sees what this one wrote.
let pending = Promise.resolve();
const waited = {
  get: (sid) => store.get(sid),
  set: (sid, sess, ttl) => (pending = store.set(sid, sess, ttl)),
  destroy: (sid) => (pending = store.destroy(sid)),
};

const app = new Koa();
app.use(async (ctx, next) => {
  const now = ctx.get('x-test-now');
  fakeNow = now ? Number(now) : null;
  await next();
  await pending;
});
app.use(session({ store: waited, cookie: { maxAge: MAX_AGE } }));
app.use(async (ctx) => {
  if (ctx.path === '/login') {
    ctx.session.user = ctx.query.user;
    ctx.body = 'ok';
  } else if (ctx.path === '/set') {
    ctx.session[ctx.query.k] = ctx.query.v;
    ctx.body = 'ok';
  } else if (ctx.path === '/whoami') {
    const data = {};
    for (const [k, v] of Object.entries(ctx.session)) {
      if (k !== 'user') data[k] = v;
    }
    ctx.body = { user: typeof ctx.session.user === 'string' ? ctx.session.user : null, data };
  } else if (ctx.path === '/logout') {
    ctx.session = null;
    ctx.body = 'bye';
  } else if (ctx.path === '/clear') {
    ctx.session = {};
    ctx.body = 'cleared';
  } else {
    ctx.status = 404;
  }
});

store.once('connect', () => {
  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
