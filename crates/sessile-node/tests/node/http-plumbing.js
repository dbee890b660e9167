// What the vector generators share (gen-vectors.js, gen-store-vectors.js, gen-http-vectors.js): a fixed
// `Date.now` (set per request by the app's first middleware through `clock.at`), an HTTP server
// on 127.0.0.1, one request, and a one-host cookie jar.
'use strict';

const http = require('node:http');

const realNow = Date.now;
let fakeNow = null;
Date.now = () => (fakeNow === null ? realNow() : fakeNow);

const clock = {
  // Fixes Date.now() to `ms` (a number or a numeric string); null gives the real clock back.
  at(ms) { fakeNow = ms === null || ms === undefined || ms === '' ? null : Number(ms); },
};

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function request(port, path, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, setCookies: res.headers['set-cookie'] || [], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// A one-host cookie jar: name=value pairs from Set-Cookie, dropped when emptied/expired.
class Jar {
  constructor() { this.cookies = new Map(); }
  take(setCookies) {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (value === '' || expired) this.cookies.delete(name); else this.cookies.set(name, value);
    }
  }
  header() { return [...this.cookies].map(([n, v]) => `${n}=${v}`).join('; '); }
}

// The generators' two writes: a sign-in, then a change that adds a key after `user`.
function login(session) {
  session.name = 'Zoë ☃ 日本語 😀';
  session.n = 42;
  session.user = 'alice';
}

function change(session) {
  session.n = 43;
  session.theme = 'dark';
}

module.exports = { clock, listen, request, Jar, login, change };
