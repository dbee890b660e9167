#!/usr/bin/env node
// A real Express app: express-session over connect-session-sequelize, for sessile-node's Sequelize
// interop tests (sessile-sql: tests/it/sequelize_interop.rs). Prints `{"port":N}` once it listens and exits
// when stdin closes.
//
// Environment:
//   SEQ_URL    Sequelize connection URL (sqlite:/path/file.db, postgres://..., mysql://...)
//   SEQ_TABLE  the session table (the store's tableName)
//   MAX_AGE    cookie.maxAge in ms (sessile's idle timeout on the Rust side)
//   USER_COLUMN  set: the app's model has a NOT NULL userId filled by extendDefaultFields
// Test-only request headers (the tests send one request at a time):
//   x-test-now      fixes Date.now() for this request (ms since the epoch)
//   x-test-secrets  the secret list for this request (JSON array; default ["s1"])
// Routes (the shared interop contract, see tests/support/mod.rs): /login?user=U[&remember=N]
// (N: the session's own maxAge), /set?k=K&v=V,
// /whoami, /logout; and /gc, which runs the store's own clearExpiredSessions() at the request's
// clock (the package runs it every checkExpirationInterval; here the test decides when).
'use strict';

const express = require('express');
const session = require('express-session');
const SequelizeStore = require('connect-session-sequelize')(session.Store);
const { Sequelize } = require('sequelize');

const realNow = Date.now;
let fakeNow = null;
Date.now = () => (fakeNow === null ? realNow() : fakeNow);

const MAX_AGE = Number(process.env.MAX_AGE || 3600000);
const sequelize = new Sequelize(process.env.SEQ_URL, { logging: false });
// USER_COLUMN=1: the app's own model with a NOT NULL `userId` that extendDefaultFields fills
// from the session (the package README's recipe).
let store;
if (process.env.USER_COLUMN) {
  const { DataTypes } = require('sequelize');
  sequelize.define('AppSession', {
    sid: { type: DataTypes.STRING(36), primaryKey: true },
    userId: { type: DataTypes.STRING, allowNull: false },
    expires: DataTypes.DATE,
    data: DataTypes.TEXT,
  }, { tableName: process.env.SEQ_TABLE });
  store = new SequelizeStore({
    db: sequelize,
    table: 'AppSession',
    checkExpirationInterval: 0,
    extendDefaultFields: (defaults, session) => ({
      data: defaults.data, expires: defaults.expires, userId: session.user,
    }),
  });
} else {
  store = new SequelizeStore({
    db: sequelize,
    tableName: process.env.SEQ_TABLE,
    checkExpirationInterval: 0, // no timer: /gc runs the cleanup when the test asks
  });
}

const middlewareBySecrets = new Map();
const sessionFor = (secrets) => {
  const id = JSON.stringify(secrets);
  if (!middlewareBySecrets.has(id)) {
    middlewareBySecrets.set(id, session({
      secret: secrets, store, resave: false, saveUninitialized: false, cookie: { maxAge: MAX_AGE },
    }));
  }
  return middlewareBySecrets.get(id);
};

const app = express();
app.use((req, res, next) => {
  const now = req.get('x-test-now');
  fakeNow = now ? Number(now) : null;
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
  for (const [k, v] of Object.entries(req.session)) {
    if (k !== 'cookie' && k !== 'user') data[k] = v;
  }
  res.json({ user: req.session.user || null, data });
});
app.get('/logout', (req, res, next) => {
  req.session.destroy((err) => (err ? next(err) : res.send('bye')));
});
app.get('/gc', async (req, res, next) => {
  // clearExpiredSessions() compares with `new Date()`; make that read the request's clock for
  // the one synchronous call that builds the query.
  const RealDate = global.Date;
  global.Date = class extends RealDate {
    constructor(...args) { super(...(args.length ? args : [RealDate.now()])); }
  };
  let done;
  try { done = store.clearExpiredSessions(); } finally { global.Date = RealDate; }
  try { await done; res.json({ ok: true }); } catch (err) { next(err); }
});

store.sync().then(() => {
  const server = app.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
