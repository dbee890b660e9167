#!/usr/bin/env node
// A real Koa app (koa-session, cookie mode) and a real Express app (express-session, MemoryStore)
// on loopback ports, for sessile-node's live interop test (tests/it/live.rs). Prints one JSON line
// `{"koa":<port>,"express":<port>}` once both listen, and exits when stdin closes, so a test that
// dies does not leave it behind.
//
// Test-only request headers (the test runs its requests one at a time):
//   x-test-now      fixes Date.now() for this request (ms since the epoch);
//   x-test-keys     Koa: app.keys for this request (JSON array);
//   x-test-secrets  Express: the secret list for this request (JSON array).
'use strict';

const Koa = require('koa');
const koaSession = require('koa-session').default;
const express = require('express');
const expressSession = require('express-session');

const realNow = Date.now;
let fakeNow = null;
Date.now = () => (fakeNow === null ? realNow() : fakeNow);
const setClock = (value) => { fakeNow = value ? Number(value) : null; };

const MAX_AGE = 3600000;

// ---------------------------------------------------------------- Koa
const koa = new Koa();
koa.keys = ['k1'];
koa.use(async (ctx, next) => {
  setClock(ctx.get('x-test-now'));
  const keys = ctx.get('x-test-keys');
  koa.keys = keys ? JSON.parse(keys) : ['k1'];
  await next();
});
koa.use(koaSession({ maxAge: MAX_AGE }, koa));
koa.use((ctx) => {
  if (ctx.path === '/login') {
    ctx.session.user = ctx.query.user;
    ctx.session.greeting = 'héllo ☃';
    ctx.body = 'ok';
  } else if (ctx.path === '/whoami') {
    ctx.body = { is_new: ctx.session.isNew, data: ctx.session.toJSON() };
  } else if (ctx.path === '/logout') {
    ctx.session = null;
    ctx.body = 'bye';
  } else {
    ctx.status = 404;
  }
});

// ---------------------------------------------------------------- Express
const store = new expressSession.MemoryStore();
store.setMaxListeners(0);
const middlewareBySecrets = new Map();
const sessionFor = (secrets) => {
  const id = JSON.stringify(secrets);
  if (!middlewareBySecrets.has(id)) {
    middlewareBySecrets.set(id, expressSession({
      secret: secrets, store, resave: false, saveUninitialized: false, cookie: { maxAge: MAX_AGE },
    }));
  }
  return middlewareBySecrets.get(id);
};
const app = express();
app.use((req, res, next) => {
  setClock(req.get('x-test-now'));
  const secrets = req.get('x-test-secrets');
  sessionFor(secrets ? JSON.parse(secrets) : ['s1'])(req, res, next);
});
app.get('/login', (req, res) => { req.session.user = req.query.user; res.send(req.sessionID); });
app.get('/whoami', (req, res) => res.json({ sid: req.sessionID, user: req.session.user || null }));

// ---------------------------------------------------------------- start
const koaServer = koa.listen(0, '127.0.0.1', () => {
  const expressServer = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ koa: koaServer.address().port, express: expressServer.address().port }) + '\n');
  });
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
