'use strict'
// Generates vectors.json: tokens made and verified by the real `csrf` package (the scheme
// koa-atomic-session and koa-csrf use), with fixed secrets and salts so the output is stable.
// Regenerate with: npm ci && node generate-vectors.js > vectors.json

const Tokens = require('csrf')
const csrfVersion = require('csrf/package.json').version

const tokens = new Tokens()

const secrets = [
  'kT3Lz0J0X4u1a4a9mSdwZt1Q', // 18 bytes base64url, the package's default shape
  'AAAAAAAAAAAAAAAAAAAAAAAA',
  'x',
  'a-secret-with-dashes-and.dots',
  'secrét-ünïcode-☃' // hashed with Node's 'ascii' encoding: the low byte of each UTF-16 unit
]
const salts = ['abcdEFGH', '00000000', 'Zz9Yy8Xx', 'a', 'a-much-longer-salt-than-usual', '', 'sälté', '😀emoji']

const created = []
for (const secret of secrets) {
  for (const salt of salts) {
    // _tokenize is what create() calls after drawing a random salt; fixing the salt fixes the token.
    created.push({ secret, salt, token: tokens._tokenize(secret, salt) })
  }
}

const secret = secrets[0]
const good = tokens._tokenize(secret, 'abcdEFGH')
const presented = [
  good,
  tokens._tokenize(secrets[1], 'abcdEFGH'),
  good.slice(0, -1),
  good + 'A',
  good.replace('-', '+'),
  'abcdEFGH',
  'abcdEFGH-',
  '-',
  '',
  '--',
  good.replace('abcd', 'abce'),
  good.toLowerCase(),
  '-' + good.split('-')[1],
  tokens._tokenize(secret, ''), // empty salt: "-<hash>"
  tokens._tokenize(secret, 'a-b'), // a dash in the salt: verify splits at the first one
  tokens._tokenize(secret, 'sälté'),
  tokens._tokenize(secret, '😀emoji')
]
const verified = presented.map((token) => ({ secret, token, valid: tokens.verify(secret, token) }))

process.stdout.write(JSON.stringify({ package: 'csrf', version: csrfVersion, created, verified }, null, 2) + '\n')
