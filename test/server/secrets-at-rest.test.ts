// Secrets at rest: outbound webhook signing secrets, webhook source secrets and IMAP passwords are stored sealed with
// AES-256-GCM under LEADSCORE_SECRET_KEY (or the data folder's key file); the raw collections hold no plaintext
// secret. Secrets stored in plain text by an earlier version still work and are sealed at the next boot; a server
// with another key refuses to start; NODE_ENV=production requires the variable.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Webhook } from 'standardwebhooks'
import { buildApp } from '../../server/src/app.js'
import { loadConfig } from '../../server/src/config.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { createSecretBox, isSealed, keyFromFile, parseSecretKey } from '../../server/src/lib/secret-box.js'
import { signedHeaders } from '../../server/src/domain/webhooks/subscriptions.js'
import { AUTH, freshDbName, testConfig, testMongoUri } from '../helpers/harness.js'
import { createSource } from '../helpers/sources.js'

const KEY = randomBytes(32).toString('hex')
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' }

t.test('the box: seal, open, plain text from before, another key', async (t) => {
  const box = createSecretBox(parseSecretKey(KEY)!)
  const sealed = box.seal('whsec_plain')
  t.ok(isSealed(sealed))
  t.notMatch(sealed, /whsec_plain/)
  t.not(box.seal('whsec_plain'), sealed, 'a fresh IV per seal')
  t.equal(box.open(sealed), 'whsec_plain')
  t.equal(box.seal(sealed), sealed, 'sealing twice is sealing once')
  t.equal(box.open('legacy-plain'), 'legacy-plain', 'a value stored before encryption opens as it is')
  const other = createSecretBox(randomBytes(32))
  t.throws(() => other.open(sealed), /sealed with another key/)
  const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA')
  t.throws(() => box.open(tampered), 'a changed value does not open (GCM tag)')
  t.same(parseSecretKey(Buffer.from(KEY, 'hex').toString('base64')), Buffer.from(KEY, 'hex'), 'base64 works too')
  t.equal(box.reseal(sealed), sealed, 'a value sealed under the current key is kept as it is')
  const rotated = createSecretBox(randomBytes(32), [parseSecretKey(KEY)!])
  t.equal(rotated.open(sealed), 'whsec_plain', 'a previous key still opens what it sealed')
  const resealed = rotated.reseal(sealed)
  t.not(resealed, sealed)
  t.ok(resealed.startsWith(`lsenc:v1:${rotated.keyId}:`), 'and reseal moves it to the current key')
  t.equal(rotated.open(resealed), 'whsec_plain')
  t.ok(rotated.reseal('legacy-plain').startsWith('lsenc:v1:'), 'reseal seals plain text')
  t.equal(parseSecretKey('too short'), null)
})

t.test('configuration: production needs the key; a bad key is refused', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), { code: 'LS_ERR_CONFIG_INVALID', message: /LEADSCORE_SECRET_KEY/ })
  t.equal(loadConfig({ NODE_ENV: 'production', LEADSCORE_SECRET_KEY: KEY }).secretKey, KEY)
  t.throws(() => loadConfig({ LEADSCORE_SECRET_KEY: 'abc' }), { code: 'LS_ERR_CONFIG_INVALID' })
  t.equal(loadConfig({}).secretKey, undefined, 'optional elsewhere')
})

t.test('without the variable: a key file in the data folder, owner only, kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-key-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'data', 'secret.key')
  const a = keyFromFile(file)
  t.equal(a.length, 32)
  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600')
  t.same(keyFromFile(file), a, 'the same key at the next start')
})

t.test('webhook, source and IMAP secrets are sealed in the database; plain ones from before are sealed at boot', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName)
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const env = { LEADSCORE_SECRET_KEY: KEY, LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '1' }
  const app = await buildApp(testConfig(uri, dbName, env), { logger: false, database: db, startWorkers: false })
  await app.ready()

  const wh = await app.inject({ method: 'POST', url: '/v1/webhooks', headers: JSON_AUTH, payload: { url: 'http://127.0.0.1:9/hook', events: ['lead.stage_changed'] } })
  t.equal(wh.statusCode, 201)
  const whSecret = wh.json().secret as string
  t.match(whSecret, /^whsec_/, 'the new secret is shown once, in plain text')
  const rot = await app.inject({ method: 'POST', url: `/v1/webhooks/${wh.json().id as string}/rotate-secret`, headers: JSON_AUTH, payload: { graceSeconds: 3600 } })
  t.equal(rot.statusCode, 200)
  const whSecret2 = rot.json().secret as string

  const src = await createSource(app, { type: 'webhook', name: 'signed', config: {} })
  const imap = await createSource(app, { type: 'imap', name: 'inbox', config: { host: '127.0.0.1', port: 1143, secure: false, user: 'u@example.test', password: 'imap-Password-42', every: '1h' } })
  const plain = [whSecret, whSecret2, ...Object.values(src.secretValues as Record<string, string>), 'imap-Password-42']
  t.equal(plain.length, 4)

  const raw = JSON.stringify([await db.c.webhooks.find({}).toArray(), await db.c.pluginInstances.find({}).toArray(), await db.c.auditLog.find({}).toArray()])
  for (const s of plain) t.notOk(raw.includes(s), `no plaintext secret in the raw collections (${s.slice(0, 8)}…)`)
  const stored = await db.c.webhooks.findOne({})
  t.ok(isSealed(stored!.secret) && isSealed(stored!.previousSecret!), 'both webhook secrets are sealed')
  const sealedValues = (await db.c.pluginInstances.find({}).toArray()).flatMap((d) => Object.values(d.secrets).flat().map((v) => v.value))
  t.ok(sealedValues.length >= 2 && sealedValues.every(isSealed), 'every source secret version is sealed')

  // what is signed uses the plain secrets: a receiver verifies with the secret it was shown
  const h = signedHeaders(app.core.subscriptions.reveal(stored!), 'msg_1', '{"a":1}', new Date())
  const sigs = h['webhook-signature']!.split(' ')
  t.equal(sigs.length, 2, 'new and previous secret sign during the grace period')
  t.doesNotThrow(() => new Webhook(whSecret2).verify('{"a":1}', { ...h, 'webhook-signature': sigs[0]! }), 'signed with the new secret')
  t.doesNotThrow(() => new Webhook(whSecret).verify('{"a":1}', { ...h, 'webhook-signature': sigs[1]! }), 'and the previous one')
  t.same(app.sources.instances.secretValues((await db.c.pluginInstances.findOne({ _id: imap.id as string }))!, 'password', new Date()), ['imap-Password-42'], 'the IMAP poller gets the password')
  await app.close()

  // plain-text secrets stored by an earlier version: they keep working, and the next boot seals them
  const now = new Date()
  await db.c.webhooks.updateOne({ _id: stored!._id }, { $set: { secret: 'whsec_bGVnYWN5LXNlY3JldC1sZWdhY3ktc2VjcmV0LTAwMA==', previousSecret: null, previousSecretExpiresAt: null } })
  await db.c.pluginInstances.insertOne({
    _id: 'src_legacy', kind: 'source', type: 'webhook', name: 'legacy', enabled: true, config: {},
    secrets: { signingSecret: [{ id: 'sec_legacy', value: 'whsec_bGVnYWN5LXNvdXJjZS1zZWNyZXQtMDEyMzQ1Njc4OQ==', createdAt: now, expiresAt: null }] },
    rev: 1, createdBy: 'test', createdAt: now, updatedAt: now,
  } as never)
  const again = await buildApp(testConfig(uri, dbName, env), { logger: false, database: db, startWorkers: false })
  await again.ready()
  const raw2 = JSON.stringify([await db.c.webhooks.find({}).toArray(), await db.c.pluginInstances.find({}).toArray()])
  t.notOk(raw2.includes('bGVnYWN5'), 'the plain secrets from before were sealed at boot')
  t.equal(again.core.subscriptions.reveal((await db.c.webhooks.findOne({ _id: stored!._id }))!).secret, 'whsec_bGVnYWN5LXNlY3JldC1sZWdhY3ktc2VjcmV0LTAwMA==', 'and still sign')
  t.same(again.sources.instances.secretValues((await db.c.pluginInstances.findOne({ _id: 'src_legacy' }))!, 'signingSecret', new Date()), ['whsec_bGVnYWN5LXNvdXJjZS1zZWNyZXQtMDEyMzQ1Njc4OQ=='], 'and still verify')

  const sealedNow = JSON.stringify([await db.c.webhooks.find({}).toArray(), await db.c.pluginInstances.find({}).toArray()])
  await again.close()

  // a boot with the same key leaves sealed values as they are
  const same = await buildApp(testConfig(uri, dbName, env), { logger: false, database: db, startWorkers: false })
  await same.ready()
  await same.close()
  t.equal(JSON.stringify([await db.c.webhooks.find({}).toArray(), await db.c.pluginInstances.find({}).toArray()]), sealedNow, 'a boot rewrites nothing already sealed')

  // a new key with the old one in LEADSCORE_SECRET_KEY_PREVIOUS: everything is sealed again under the new key
  const NEW_KEY = randomBytes(32).toString('base64')
  const rekeyed = await buildApp(testConfig(uri, dbName, { ...env, LEADSCORE_SECRET_KEY: NEW_KEY, LEADSCORE_SECRET_KEY_PREVIOUS: KEY }), { logger: false, database: db, startWorkers: false })
  await rekeyed.ready()
  const newId = createSecretBox(parseSecretKey(NEW_KEY)!).keyId
  const values = [
    ...(await db.c.webhooks.find({}).toArray()).flatMap((d) => [d.secret, d.previousSecret].filter((v): v is string => v !== null)),
    ...(await db.c.pluginInstances.find({}).toArray()).flatMap((d) => Object.values(d.secrets).flat().map((v) => v.value)),
  ]
  t.ok(values.length >= 4 && values.every((v) => v.startsWith(`lsenc:v1:${newId}:`)), 'every stored secret is now sealed under the new key')
  t.equal(rekeyed.core.subscriptions.reveal((await db.c.webhooks.findOne({ _id: stored!._id }))!).secret, 'whsec_bGVnYWN5LXNlY3JldC1sZWdhY3ktc2VjcmV0LTAwMA==', 'and still signs')
  await rekeyed.close()

  // another key: the boot fails, naming the problem, rather than failing every delivery later
  // (on a connection of its own: what the half-built app started is left to finish before it closes)
  const other = await openDatabase(uri, dbName)
  await t.rejects(buildApp(testConfig(uri, dbName, { ...env, LEADSCORE_SECRET_KEY: randomBytes(32).toString('hex') }), { logger: false, database: other, startWorkers: false }), /sealed with another key/)
  await new Promise((resolve) => setTimeout(resolve, 1000))
  await other.close()
})
