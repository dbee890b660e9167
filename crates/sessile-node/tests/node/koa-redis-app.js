#!/usr/bin/env node
// A real Koa app keeping its sessions in Redis through koa-redis, for sessile-node's Redis
// interop test (sessile-redis: tests/it/node_interop.rs). Prints `{"port":N}` once it listens and exits when
// stdin closes.
//
// Environment:
//   MODE       koa-session (external-store mode) | minimal (koa-session-minimal) |
//              generic (koa-generic-session)
//   MAX_AGE    the session maxAge in ms
//   PREFIX     koa-session: its `prefix` option (part of the id); generic: its store `prefix`
//   REDIS_URL  default redis://127.0.0.1:6379
// Test-only request header:
//   x-test-keys  app.keys for this request (JSON array; default ["k1"]); requests run one at a time.
//
// Routes (the same as the Rust app's): /login?user=U[&remember=N], /set?k=K&v=V, /whoami, /logout;
// `remember` gives the session its own maxAge N (koa-session, koa-generic-session).
'use strict';

const Koa = require('koa');
const koaRedis = require('koa-redis');

const MODE = process.env.MODE;
const MAX_AGE = Number(process.env.MAX_AGE);
const PREFIX = process.env.PREFIX || '';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
if (!MAX_AGE) throw new Error('MAX_AGE is required');

const store = koaRedis({ url: REDIS_URL });
const app = new Koa();
app.keys = ['k1'];
app.use(async (ctx, next) => {
  const keys = ctx.get('x-test-keys');
  app.keys = keys ? JSON.parse(keys) : ['k1'];
  await next();
});

// Which of the session's own keys are the package's bookkeeping, not data.
let bookkeeping;
if (MODE === 'koa-session') {
  const koaSession = require('koa-session').default;
  const options = { store, maxAge: MAX_AGE };
  if (PREFIX) options.prefix = PREFIX;
  app.use(koaSession(options, app));
  bookkeeping = new Set();
} else if (MODE === 'minimal') {
  const minimal = require('koa-session-minimal');
  app.use(minimal({ store, cookie: { maxAge: MAX_AGE } }));
  bookkeeping = new Set();
} else if (MODE === 'generic') {
  const generic = require('koa-generic-session');
  const options = { store, cookie: { maxAge: MAX_AGE } };
  if (PREFIX) options.prefix = PREFIX;
  app.use(generic(options));
  bookkeeping = new Set(['cookie']);
} else {
  throw new Error(`unknown MODE ${MODE}`);
}

const plain = (session) => {
  const own = MODE === 'koa-session' ? session.toJSON() : JSON.parse(JSON.stringify(session));
  const data = {};
  for (const [key, value] of Object.entries(own)) {
    if (key !== 'user' && !bookkeeping.has(key) && !key.startsWith('_')) data[key] = value;
  }
  return data;
};

app.use((ctx) => {
  if (ctx.path === '/login') {
    ctx.session.user = ctx.query.user;
    // "Remember me": this session's own lifetime, koa-session's maxAge setter (`_maxAge`) or
    // koa-generic-session's cookie options (`cookie.maxAge`, which the package re-issues the
    // cookie and sets the TTL with). koa-session-minimal has none: its lifetime is the app's.
    const remember = Number(ctx.query.remember);
    if (remember && MODE === 'koa-session') ctx.session.maxAge = remember;
    if (remember && MODE === 'generic') ctx.session.cookie.maxAge = remember;
    ctx.body = 'ok';
  } else if (ctx.path === '/set') {
    ctx.session[ctx.query.k] = ctx.query.v;
    ctx.body = 'ok';
  } else if (ctx.path === '/whoami') {
    const session = ctx.session || {};
    ctx.body = { user: typeof session.user === 'string' ? session.user : null, data: plain(session) };
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
