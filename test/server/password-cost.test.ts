// Passwords are hashed with scrypt at OWASP's recommended cost (N=2^17, r=8, p=1) and the hash names its parameters;
// a hash made at the older cost (N=2^15) still verifies, and the next successful sign-in replaces it.
import t from 'tap'
import { randomBytes, scryptSync } from 'node:crypto'
import { buildTestApp } from '../helpers/harness.js'
import { hashParams, hashPassword, needsRehash, verifyPassword } from '../../server/src/domain/auth/passwords.js'

const ADMIN = { email: 'root@example.com', password: 'correct horse battery staple' }

function oldHash (password: string): string {
  const salt = randomBytes(16)
  const key = scryptSync(password.normalize('NFKC'), salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
  return `scrypt$32768$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`
}

t.test('new hashes use N=2^17, r=8, p=1', async (t) => {
  const h = await hashPassword('pw-0123456789')
  t.same(hashParams(h), { n: 131072, r: 8, p: 1 })
  t.equal(needsRehash(h), false)
  t.equal(await verifyPassword('pw-0123456789', h), true)
  t.equal(await verifyPassword('pw-012345678', h), false)
})

t.test('older or strange parameters', async (t) => {
  const old = oldHash('pw-0123456789')
  t.equal(await verifyPassword('pw-0123456789', old), true, 'an N=2^15 hash still verifies')
  t.equal(needsRehash(old), true, 'and is due for a re-hash')
  const [, , , , salt, key] = old.split('$')
  t.equal(await verifyPassword('pw-0123456789', `scrypt$1048577$8$1$${salt}$${key}`), false, 'N not a power of two')
  t.equal(await verifyPassword('pw-0123456789', `scrypt$4194304$8$1$${salt}$${key}`), false, 'more than 1 GiB of memory')
})

t.test('a sign-in re-hashes an old-cost hash; a failed one does not', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_ADMIN_EMAIL: ADMIN.email, LEADSCORE_ADMIN_PASSWORD: ADMIN.password }, { startWorkers: false })
  const old = oldHash(ADMIN.password)
  await db.c.users.updateOne({ email: ADMIN.email }, { $set: { passwordHash: old } })
  const login = (password: string) => app.inject({
    method: 'POST', url: '/v1/session', headers: { 'content-type': 'application/json', 'x-leadscore-csrf': '1' },
    payload: { email: ADMIN.email, password },
  })
  t.equal((await login('wrong password!')).statusCode, 401)
  t.equal((await db.c.users.findOne({ email: ADMIN.email }))!.passwordHash, old, 'a failed sign-in leaves the hash')
  t.equal((await login(ADMIN.password)).statusCode, 200, 'the old hash signs in')
  const now = (await db.c.users.findOne({ email: ADMIN.email }))!.passwordHash
  t.not(now, old, 'and was replaced')
  t.same(hashParams(now), { n: 131072, r: 8, p: 1 }, 'at the current cost')
  t.equal((await login(ADMIN.password)).statusCode, 200, 'the new hash signs in')
})
