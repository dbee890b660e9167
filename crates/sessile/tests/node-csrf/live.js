'use strict'
// Used by crates/sessile/tests/csrf.rs: runs the real `csrf` package on demand.
//   node live.js create <secret>          prints a fresh token for <secret>
//   node live.js verify <secret> <token>  prints "true" or "false"
//   node live.js secret                   prints a fresh secret
const Tokens = require('csrf')
const tokens = new Tokens()
const [command, secret, token] = process.argv.slice(2)
switch (command) {
  case 'create':
    process.stdout.write(tokens.create(secret) + '\n')
    break
  case 'verify':
    process.stdout.write(String(tokens.verify(secret, token)) + '\n')
    break
  case 'secret':
    process.stdout.write(tokens.secretSync() + '\n')
    break
  default:
    process.stderr.write('usage: node live.js create <secret> | verify <secret> <token> | secret\n')
    process.exit(2)
}
