#!/usr/bin/env node
// Produces vectors.json for sessile-node's tests by running the REAL npm packages (versions pinned
// in package-lock.json) with a fixed clock, fixed keys and fixed session ids.
//
//   npm ci --prefix crates/sessile-node/tests/node
//   node crates/sessile-node/tests/node/gen-vectors.js > crates/sessile-node/tests/node/vectors.json
//
// Session objects use keys in sorted order (nested too): serde_json's Map iterates sorted, and the
// Rust encoder writes keys in map order, while Node writes them in insertion order.
'use strict';

const { listen, request } = require('./http-plumbing');
const Keygrip = require('keygrip');
const Cookies = require('cookies');
const Koa = require('koa');
const koaSession = require('koa-session').default;
const express = require('express');
const expressSession = require('express-session');
const cookieSignature = require('cookie-signature');
const cookie = require('cookie');

const NOW = 1700000000000;
Date.now = () => NOW;

const pkgVersion = (name) => require(`${name}/package.json`).version;

// ---------------------------------------------------------------- keygrip

function keygripVectors() {
  const out = [];
  const keyLists = [['k1'], ['k2', 'k1'], ['ünï ☃ key', 'k1']];
  const data = ['koa.sess=abc', 'koa.sess=', 'sid=0123456789abcdef01234567', 'ünïcødé ☃ 😀', 'a'.repeat(300)];
  for (const algorithm of ['sha1', 'sha256']) {
    for (const keys of keyLists) {
      const grip = new Keygrip(keys, algorithm);
      for (const d of data) {
        const signature = grip.sign(d);
        const byLastKey = new Keygrip([keys[keys.length - 1]], algorithm).sign(d);
        out.push({
          algorithm, keys, data: d, signature,
          index_of_signature: grip.index(d, signature),
          signature_of_last_key: byLastKey,
          index_of_last_key_signature: grip.index(d, byLastKey),
          index_of_bogus: grip.index(d, signature.slice(1)),
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- cookies (get / set)

function fakeReqRes(header, secure) {
  const req = { headers: header === null ? {} : { cookie: header }, connection: { encrypted: secure }, socket: { encrypted: secure } };
  const stored = {};
  const res = {
    getHeader: (n) => stored[n.toLowerCase()],
    setHeader: (n, v) => { stored[n.toLowerCase()] = v; },
  };
  return { req, res, setCookies: () => stored['set-cookie'] || [] };
}

function cookiesGetVectors() {
  const out = [];
  const k1 = new Keygrip(['k1']);
  const sig = (d, g = k1) => g.sign(d);
  const cases = [
    { keys: ['k1'], header: `koa.sess=abc; koa.sess.sig=${sig('koa.sess=abc')}` },
    { keys: ['k2', 'k1'], header: `koa.sess=abc; koa.sess.sig=${sig('koa.sess=abc')}` },
    { keys: ['k2', 'k1'], header: `koa.sess=abc; koa.sess.sig=${sig('koa.sess=abc')}`, secure: true },
    { keys: ['k3', 'k2'], header: `koa.sess=abc; koa.sess.sig=${sig('koa.sess=abc')}` },
    { keys: ['k3', 'k2'], header: `koa.sess=abc; koa.sess.sig=${sig('koa.sess=abc')}`, secure: true },
    { keys: ['k1'], header: 'koa.sess=abc' },
    { keys: ['k1'], header: 'koa.sess=abc; koa.sess.sig=' },
    { keys: ['k1'], header: `koa.sess.sig=${sig('koa.sess=abc')}` },
    { keys: ['k1'], header: `other=1;koa.sess="abc";koa.sess.sig="${sig('koa.sess=abc')}"` },
    { keys: ['k1'], header: `koa.sess=a%20b; koa.sess.sig=${sig('koa.sess=a%20b')}` },
    { keys: ['k1'], header: `koa.sess=first; koa.sess=second; koa.sess.sig=${sig('koa.sess=first')}` },
    { keys: ['k1'], header: `koa.sess=second; koa.sess.sig=${sig('koa.sess=first')}` },
    { keys: ['k1'], header: `xkoa.sess=abc; koa.sess.sig=${sig('koa.sess=abc')}` },
    { keys: ['k1'], header: `koa.sess=; koa.sess.sig=${sig('koa.sess=')}` },
    { keys: ['k1'], header: `   koa.sess=abc;    koa.sess.sig=${sig('koa.sess=abc')}` },
    { keys: ['k1'], header: `koa.sess=abc;\tkoa.sess.sig=${sig('koa.sess=abc')}` },
    { keys: ['k1'], header: `sid=0123; sid.sig=${sig('sid=0123')}`, name: 'sid' },
    { keys: ['k1'], header: '' },
    { keys: ['k1'], header: `koa.sess=abc; koa.sess.sig=${new Keygrip(['k1'], 'sha256').sign('koa.sess=abc')}`, algorithm: 'sha256' },
    { keys: ['k2', 'k1'], header: `koa.sess=abc; koa.sess.sig=${new Keygrip(['k1'], 'sha256').sign('koa.sess=abc')}`, algorithm: 'sha256' },
  ];
  for (const c of cases) {
    const name = c.name || 'koa.sess';
    const algorithm = c.algorithm || 'sha1';
    const secure = !!c.secure;
    const { req, res, setCookies } = fakeReqRes(c.header, secure);
    const cookies = new Cookies(req, res, { keys: new Keygrip(c.keys, algorithm), secure });
    const value = cookies.get(name, { signed: true });
    out.push({ keys: c.keys, algorithm, secure, header: c.header, name, value: value === undefined ? null : value, set_cookies: setCookies() });
  }
  return out;
}

function cookiesSetVectors() {
  const out = [];
  const cases = [
    { name: 'koa.sess', value: 'abc', opts: {} },
    { name: 'koa.sess', value: 'abc', opts: { maxAge: 3600000 } },
    { name: 'koa.sess', value: 'abc', opts: { maxAge: 3600000, path: '/app', domain: 'example.com', sameSite: 'lax', priority: 'High', partitioned: true } },
    { name: 'koa.sess', value: 'abc', opts: { sameSite: 'strict', httpOnly: false } },
    { name: 'koa.sess', value: 'abc', opts: { sameSite: 'none', secure: true }, secure: true },
    { name: 'koa.sess', value: 'abc', opts: {}, secure: true },
    { name: 'koa.sess', value: 'abc', opts: { secure: false }, secure: true },
    { name: 'koa.sess', value: 'abc', opts: { signed: false, priority: 'low' } },
    { name: 'koa.sess', value: '', opts: { maxAge: 3600000 } },
    { name: 'koa.sess', value: '', opts: { expires: new Date(0), maxAge: false } },
    { name: 'koa.sess', value: 'abc', opts: { expires: new Date(NOW + 5000) } },
    { name: 'koa.sess', value: 'abc', opts: { maxAge: 3600000 }, keys: ['k2', 'k1'], algorithm: 'sha256' },
    { name: 'sid', value: '0123456789abcdef01234567', opts: { maxAge: 1209600000, priority: 'medium' } },
  ];
  for (const c of cases) {
    const keys = c.keys || ['k1'];
    const algorithm = c.algorithm || 'sha1';
    const secure = !!c.secure;
    const { req, res, setCookies } = fakeReqRes(null, secure);
    const cookies = new Cookies(req, res, { keys: new Keygrip(keys, algorithm), secure });
    const opts = { signed: true, ...c.opts };
    cookies.set(c.name, c.value, opts);
    const plainOpts = { ...opts };
    if (plainOpts.expires instanceof Date) plainOpts.expires = plainOpts.expires.getTime();
    out.push({ keys, algorithm, secure, name: c.name, value: c.value, now: NOW, opts: plainOpts, set_cookies: setCookies() });
  }
  return out;
}

// ---------------------------------------------------------------- koa-session (real Koa app)

async function koaSessionVectors() {
  const keys = ['k2', 'k1'];
  const sessions = [
    { user: 'alice' },
    { n: 1, user: 'alice' },
    { cart: { items: [{ qty: 2, sku: 'A-1' }], total: 12.5 }, flags: [true, false, null], name: 'Zoë ☃ 日本語 😀' },
    { _csrf: 'dropped: underscore keys are not persisted', user: 'bob' },
    { ctl: 'tab\tnewline\nquote"backslash\\ \u0001 \u007f \u2028', user: 'carol' },
    { big: 9007199254740991, neg: -1, small: 0.000001, user: 'dave' },
    { long: 'x'.repeat(2000) },
    { nums: [1e-7, 0.000001, 1e21, 1.2345e22, 5.5, -0.5, 123456.789, 0.1 + 0.2, -1e-300], zero: -0 },
  ];
  const maxAges = [undefined, 3600000, 'session'];
  const encode = [];
  for (const maxAge of maxAges) {
    const app = new Koa();
    app.keys = keys;
    app.use(koaSession(maxAge === undefined ? {} : { maxAge }, app));
    app.use((ctx) => {
      const wanted = JSON.parse(Buffer.from(ctx.get('x-session'), 'base64').toString('utf8'));
      for (const k of Object.keys(wanted)) ctx.session[k] = wanted[k];
      ctx.body = 'ok';
    });
    const server = await listen(app.callback());
    const port = server.address().port;
    for (const session of sessions) {
      const res = await request(port, '/', { 'x-session': Buffer.from(JSON.stringify(session)).toString('base64') });
      const main = res.setCookies[0];
      const value = main.slice('koa.sess='.length, main.indexOf(';'));
      encode.push({
        keys, max_age: maxAge === undefined ? null : maxAge, now: NOW, session,
        cookie_value: value, json: Buffer.from(value, 'base64').toString('utf8'), set_cookies: res.setCookies,
      });
    }
    server.close();
  }

  // Reading: cookie values crafted here, signed with keys[1] or keys[0], read by a real app.
  const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
  const values = [
    encode[0].cookie_value,
    encode[2].cookie_value,
    encode[2 + sessions.length].cookie_value,
    encode[1 + 2 * sessions.length].cookie_value,
    b64(JSON.stringify({ user: 'eve', _expire: NOW - 1, _maxAge: 1000 })),
    b64(JSON.stringify({ user: 'eve', _expire: NOW, _maxAge: 1000 })),
    b64(JSON.stringify({ user: 'eve', _expire: NOW + 1, _maxAge: 1000 })),
    b64(JSON.stringify({ user: 'eve', _expire: String(NOW - 1), _maxAge: 'session' })),
    b64(JSON.stringify({ user: 'eve', _session: false })),
    b64(JSON.stringify({ isNew: false, user: 'eve', _other: 1 })),
    b64(JSON.stringify({ user: 'eve' })).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'),
    b64(JSON.stringify({ name: 'Zoë ☃ 日本語 😀' })).replace(/=+$/, ''),
    '!' + b64(JSON.stringify({ user: 'eve' })).split('').join(' '),
    b64('null'), b64('0'), b64('false'), b64('""'), b64('{}'),
    b64('{"user":'), b64('not json'), 'not base64 at all!', '%%%', '',
    b64('\ufeff{"user":"bom"}'),
    Buffer.from([0x7b, 0x22, 0x75, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('base64'),
  ];
  const decode = [];
  const app = new Koa();
  app.keys = keys;
  app.use(koaSession({}, app));
  app.use((ctx) => {
    const session = ctx.session;
    ctx.body = JSON.stringify({ is_new: session.isNew, data: session.toJSON(), max_age: session.maxAge === undefined ? null : session.maxAge });
  });
  const server = await listen(app.callback());
  const port = server.address().port;
  for (const value of values) {
    const sig = new Keygrip([keys[1]]).sign(`koa.sess=${value}`);
    const res = await request(port, '/', { cookie: `koa.sess=${value}; koa.sess.sig=${sig}` });
    const seen = JSON.parse(res.body);
    decode.push({ keys, now: NOW, cookie_value: value, is_new: seen.is_new, data: seen.data, max_age: seen.max_age, set_cookies: res.setCookies });
  }
  server.close();
  return { encode, decode };
}

function base64Vectors() {
  // Deterministic junk (xorshift), so the file only changes when Node's decoder does.
  let state = 0x2545f491;
  const next = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state; };
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=  \t\n!.%"é☃';
  const out = [];
  for (let i = 0; i < 150; i++) {
    const len = next() % 24;
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[next() % alphabet.length];
    out.push({ input: s, hex: Buffer.from(s, 'base64').toString('hex') });
  }
  return out;
}

// ---------------------------------------------------------------- express-session

function cookieSignatureVectors() {
  const out = [];
  for (const secret of ['keyboard cat', 'ünï ☃ secret', '']) {
    for (const value of ['FIXEDsid0123456789abcdefghijklmn', 'a.b.c', '', 'ünïcødé ☃']) {
      const signed = cookieSignature.sign(value, secret);
      out.push({
        secret, value, signed,
        unsign: cookieSignature.unsign(signed, secret) === false ? null : cookieSignature.unsign(signed, secret),
        unsign_padded: cookieSignature.unsign(signed + '=', secret) === false ? null : value,
        unsign_other_secret: cookieSignature.unsign(signed, secret + 'x') === false ? null : value,
      });
    }
  }
  return out;
}

function cookieParseVectors() {
  const headers = [
    'connect.sid=s%3Aabc.def; other=1',
    'a=1; a=2',
    ' a = 1 ;\tb=\t2\t',
    'junk; a=1; =x; b==2',
    'x;y;a=1',
    'a="quoted"; b="; c=""',
    'a=%E2%98%83; b=%C3; c=%zz; d=%ED%A0%80; e=%2B%2F%3D',
    'é=ü; a=1',
    'a',
    '',
    'a=1;;b=2; ;c',
  ];
  return headers.map((header) => ({ header, pairs: Object.entries(cookie.parse(header)) }));
}

async function expressVectors() {
  const store = new expressSession.MemoryStore();
  store.setMaxListeners(0);
  // express-session asks the store only for an id whose cookie verified: record which one.
  let lookedUp = null;
  const storeGet = store.get.bind(store);
  store.get = (sid, cb) => { lookedUp = sid; return storeGet(sid, cb); };
  let generated = 0;
  const appFor = (secrets, cookieOpts) => {
    const app = express();
    app.use(expressSession({
      secret: secrets, store, resave: false, saveUninitialized: false, cookie: cookieOpts,
      genid: (req) => req.get('x-sid') || `generated-${++generated}`,
    }));
    app.get(['/login', '/app/login'], (req, res) => { req.session.user = req.query.user; res.send(req.sessionID); });
    app.get('/whoami', (req, res) => res.json({ sid: req.sessionID, user: req.session.user || null }));
    return app;
  };

  const issue = [];
  const issueCases = [
    { secrets: ['keyboard cat'], sid: 'FIXEDsid0123456789abcdefghijklmn', cookie: {} },
    { secrets: ['new secret', 'keyboard cat'], sid: 'FIXEDsid0123456789abcdefghijklmn', cookie: { maxAge: 3600000 } },
    { secrets: ['keyboard cat'], sid: 'other-Sid_with.dots', path: '/app/login', cookie: { maxAge: 60000, path: '/app', domain: 'example.com', sameSite: 'strict', priority: 'high', partitioned: true, httpOnly: false } },
    { secrets: ['ünï ☃ secret'], sid: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA3', cookie: { sameSite: 'lax' } },
  ];
  for (const c of issueCases) {
    const server = await listen(appFor(c.secrets, c.cookie));
    const res = await request(server.address().port, `${c.path || '/login'}?user=alice`, { 'x-sid': c.sid });
    server.close();
    issue.push({ secrets: c.secrets, sid: c.sid, now: NOW, cookie: c.cookie, set_cookies: res.setCookies });
  }

  // Reading: sessions exist in the store (created above); Node reports the id it settled on.
  const sid = 'FIXEDsid0123456789abcdefghijklmn';
  const signedBy = (secret, id = sid) => 's:' + cookieSignature.sign(id, secret);
  const enc = encodeURIComponent;
  const readCases = [
    { secrets: ['keyboard cat'], header: `connect.sid=${enc(signedBy('keyboard cat'))}` },
    { secrets: ['keyboard cat'], header: `connect.sid=${signedBy('keyboard cat')}` },
    { secrets: ['new secret', 'keyboard cat'], header: `connect.sid=${enc(signedBy('keyboard cat'))}` },
    { secrets: ['new secret'], header: `connect.sid=${enc(signedBy('keyboard cat'))}` },
    { secrets: ['keyboard cat'], header: `connect.sid=${enc(sid)}` },
    { secrets: ['keyboard cat'], header: `connect.sid=${enc(signedBy('keyboard cat'))}%3D` },
    { secrets: ['keyboard cat'], header: `connect.sid="${enc(signedBy('keyboard cat'))}"; connect.sid=junk` },
    { secrets: ['keyboard cat'], header: `other=1; connect.sid=${enc(signedBy('keyboard cat', 'unknown-sid'))}` },
    { secrets: ['keyboard cat'], header: `connect.sid=s%3A${sid}` },
    { secrets: ['keyboard cat'], header: `connect.sid=${enc(signedBy('keyboard cat', ''))}` },
    { secrets: ['ünï ☃ secret'], header: `connect.sid=${enc(signedBy('ünï ☃ secret', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA3'))}` },
  ];
  const read = [];
  for (const c of readCases) {
    const server = await listen(appFor(c.secrets, {}));
    lookedUp = null;
    const res = await request(server.address().port, '/whoami', { cookie: c.header });
    server.close();
    const seen = JSON.parse(res.body);
    const accepted = !seen.sid.startsWith('generated-');
    read.push({
      secrets: c.secrets, header: c.header, verified_id: lookedUp,
      session_id: accepted ? seen.sid : null, user: seen.user, set_cookies: res.setCookies,
    });
  }
  return { issue, read };
}

async function main() {
  const koa = await koaSessionVectors();
  const expressV = await expressVectors();
  const vectors = {
    generated_by: 'tests/node/gen-vectors.js',
    now: NOW,
    node: process.version,
    packages: Object.fromEntries(['koa', 'koa-session', 'cookies', 'keygrip', 'express', 'express-session', 'cookie-signature', 'cookie']
      .map((name) => [name, pkgVersion(name)])),
    keygrip: keygripVectors(),
    cookies_get: cookiesGetVectors(),
    cookies_set: cookiesSetVectors(),
    koa_session_encode: koa.encode,
    koa_session_decode: koa.decode,
    node_base64: base64Vectors(),
    cookie_signature: cookieSignatureVectors(),
    cookie_parse: cookieParseVectors(),
    express_issue: expressV.issue,
    express_read: expressV.read,
  };
  process.stdout.write(JSON.stringify(vectors, null, 2) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
