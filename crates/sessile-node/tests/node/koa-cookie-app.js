#!/usr/bin/env node
// A real Koa app with koa-session in cookie mode (the whole session in the signed `koa.sess`
// cookie), for tests/it/koa_cookie_interop.rs. Serves the four routes of tests/support/mod.rs, prints
// `{"port":N}` once it listens and exits when stdin closes.
//
// Environment: KOA_KEYS (JSON array, default ["k1"]) and MAX_AGE (ms, default 3600000, or
// `session` for koa-session's browser-session mode).
// `/login?user=U&remember=N` also gives the session its own maxAge (ctx.session.maxAge = N).
// Test-only request headers (the test sends its requests one at a time):
//   x-test-now   fixes Date.now() for this request (ms since the epoch);
//   x-test-keys  app.keys for this request (JSON array), for key rotation.
'use strict';

const Koa = require('koa');
const koaSession = require('koa-session').default;

const realNow = Date.now;
let fakeNow = null;
Date.now = () => (fakeNow === null ? realNow() : fakeNow);

const KEYS = process.env.KOA_KEYS ? JSON.parse(process.env.KOA_KEYS) : ['k1'];
const MAX_AGE = process.env.MAX_AGE === 'session' ? 'session' : Number(process.env.MAX_AGE || 3600000);

const app = new Koa();
app.keys = KEYS;
app.use(async (ctx, next) => {
  const now = ctx.get('x-test-now');
  fakeNow = now ? Number(now) : null;
  const keys = ctx.get('x-test-keys');
  app.keys = keys ? JSON.parse(keys) : KEYS;
  await next();
});
app.use(koaSession({ maxAge: MAX_AGE }, app));
app.use((ctx) => {
  if (ctx.path === '/login') {
    ctx.session.user = String(ctx.query.user);
    // "Remember me": this session's own lifetime (koa-session's maxAge setter writes `_maxAge`).
    if (ctx.query.remember) ctx.session.maxAge = Number(ctx.query.remember);
    ctx.body = 'ok';
  } else if (ctx.path === '/set') {
    ctx.session[String(ctx.query.k)] = String(ctx.query.v);
    ctx.body = 'ok';
  } else if (ctx.path === '/whoami') {
    const data = ctx.session.toJSON();
    const user = typeof data.user === 'string' ? data.user : null;
    delete data.user;
    // The session's lifetime as koa-session holds it: its maxAge (the loaded `_maxAge`) and
    // its `_expire`.
    ctx.body = { user, data, maxAge: ctx.session.maxAge, expire: ctx.session._expire };
  } else if (ctx.path === '/logout') {
    ctx.session = null;
    ctx.body = 'bye';
  } else {
    ctx.status = 404;
  }
});

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
