#!/usr/bin/env node
// A real Express app keeping its sessions in Redis through connect-redis 9 (node-redis client),
// for sessile-redis's Node interop test (tests/it/node_interop.rs). Prints `{"port":N}` once it
// listens and exits when stdin closes.
//
// Environment:
//   MAX_AGE    cookie.maxAge in ms
//   PREFIX     connect-redis `prefix` (default sess:)
//   REDIS_URL  default redis://127.0.0.1:6379
// Test-only request header:
//   x-test-secrets  the secret list for this request (JSON array; default ["s1"]).
//
// Routes (the same as the Rust app's): /login?user=U[&remember=N], /set?k=K&v=V, /whoami, /logout;
// `remember` gives the session its own maxAge N (req.session.cookie.maxAge).
'use strict';

const express = require('express');
const expressSession = require('express-session');
const { RedisStore } = require('connect-redis');
const { createClient } = require('redis');

const MAX_AGE = Number(process.env.MAX_AGE);
const PREFIX = process.env.PREFIX || 'sess:';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
if (!MAX_AGE) throw new Error('MAX_AGE is required');

async function main() {
  const client = createClient({ url: REDIS_URL });
  client.on('error', (error) => process.stderr.write(`redis: ${error}\n`));
  await client.connect();
  const store = new RedisStore({ client, prefix: PREFIX });

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
    const secrets = req.get('x-test-secrets');
    sessionFor(secrets ? JSON.parse(secrets) : ['s1'])(req, res, next);
  });
  app.get('/login', (req, res) => {
    req.session.user = req.query.user;
    // "Remember me": this session's own lifetime (originalMaxAge, expires).
    if (req.query.remember) req.session.cookie.maxAge = Number(req.query.remember);
    res.send('ok');
  });
  app.get('/set', (req, res) => { req.session[req.query.k] = req.query.v; res.send('ok'); });
  app.get('/whoami', (req, res) => {
    const data = {};
    for (const [key, value] of Object.entries(JSON.parse(JSON.stringify(req.session)))) {
      if (key !== 'cookie' && key !== 'user') data[key] = value;
    }
    res.json({ user: typeof req.session.user === 'string' ? req.session.user : null, data });
  });
  app.get('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.send('bye')));
  });

  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
