#!/usr/bin/env node
// A real Koa app: koa-generic-session over koa-generic-session-sequelize, for sessile-node's
// Sequelize interop tests (sessile-sql: tests/it/sequelize_interop.rs). Prints `{"port":N}` once it listens and
// exits when stdin closes.
//
// Environment:
//   SEQ_URL    Sequelize connection URL (sqlite:/path/file.db, postgres://..., mysql://...)
//   SEQ_TABLE  the session table (the store's tableName)
//   MAX_AGE    cookie.maxAge in ms (sessile's idle timeout on the Rust side)
//   TIMESTAMPS set: the store's `timestamps: true` (createdAt, updatedAt columns)
// Test-only request headers (the tests send one request at a time):
//   x-test-now   fixes Date.now() for this request (ms since the epoch)
//   x-test-keys  app.keys for this request (JSON array; default ["k1"])
// Routes (the shared interop contract, see tests/support/mod.rs): /login?user=U[&remember=N]
// (N: the session's own maxAge), /set?k=K&v=V,
// /whoami, /logout.
'use strict';

const Koa = require('koa');
const session = require('koa-generic-session');
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
  timestamps: Boolean(process.env.TIMESTAMPS), // createdAt, updatedAt
});

const app = new Koa();
app.keys = ['k1'];
app.use(async (ctx, next) => {
  const now = ctx.get('x-test-now');
  fakeNow = now ? Number(now) : null;
  const keys = ctx.get('x-test-keys');
  app.keys = keys ? JSON.parse(keys) : ['k1'];
  await next();
});
app.use(session({ store, cookie: { maxAge: MAX_AGE } }));
app.use(async (ctx) => {
  if (ctx.path === '/login') {
    ctx.session.user = ctx.query.user;
    // "Remember me": this session's own lifetime, in the cookie options stored with it.
    if (ctx.query.remember) ctx.session.cookie.maxAge = Number(ctx.query.remember);
    ctx.body = 'ok';
  } else if (ctx.path === '/set') {
    ctx.session[ctx.query.k] = ctx.query.v;
    ctx.body = 'ok';
  } else if (ctx.path === '/whoami') {
    const data = {};
    for (const [k, v] of Object.entries(ctx.session || {})) {
      if (k !== 'cookie' && k !== 'user') data[k] = v;
    }
    ctx.body = { user: (ctx.session && ctx.session.user) || null, data };
  } else if (ctx.path === '/logout') {
    ctx.session = null;
    ctx.body = 'bye';
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
