// The IMAP source's guards against a real dovecot on 127.0.0.1: a private or loopback host is refused at create and
// update (and again at connect time) unless LEADSCORE_WEBHOOKS_ALLOW_PRIVATE is set; changing host, port or user needs
// the password again; without TLS the password is never sent unless the source sets allowInsecure.
import t from 'tap'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { createSource, waitForStats } from '../helpers/sources.js'
import { startDovecot } from '../helpers/dovecot.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' }

t.test('a private or loopback IMAP host is refused unless private hosts are allowed', async (t) => {
  const imap = await startDovecot(t)
  const { app, db } = await buildTestApp(t)
  const base = { port: imap.port, secure: false, user: imap.user, password: imap.password, every: '1h' }
  for (const host of ['127.0.0.1', 'localhost', '10.1.2.3', '169.254.169.254', '[::1]', '::ffff:127.0.0.1', '::ffff:7f00:1']) {
    const r = await app.inject({ method: 'POST', url: '/v1/sources', headers: JSON_AUTH, payload: JSON.stringify({ type: 'imap', name: 'x', config: { ...base, host } }) })
    t.equal(r.statusCode, 400, `${host} is refused`)
    t.match(r.headers['content-type'], /application\/problem\+json/)
    t.match(r.json(), { code: 'LS_ERR_SOURCE_HOST_PRIVATE' })
  }
  t.equal(await db.c.pluginInstances.countDocuments({}), 0, 'nothing was stored')

  // a stored source whose host became private (as if DNS changed) is refused at connect time, before any login
  const now = new Date()
  await db.c.pluginInstances.insertOne({
    _id: 'src_private_now', kind: 'source', type: 'imap', name: 'moved', enabled: true, config: { host: '127.0.0.1', port: imap.port, secure: false, user: imap.user, every: '1h' },
    secrets: { password: [{ id: 'sec_1', value: imap.password, createdAt: now, expiresAt: null }] }, rev: 1, createdBy: 'test', createdAt: now, updatedAt: now,
  } as never)
  const r = await app.inject({ method: 'POST', url: '/v1/sources/src_private_now/poll', headers: AUTH })
  t.match(r.json(), { status: 'failed', error: { code: 'LS_ERR_SOURCE_HOST_PRIVATE' } }, 'the poll records the refusal')
  t.notMatch(imap.log(), /Login: user=|passwd-file\(/, 'dovecot saw no login')
})

t.test('changing host, port or user needs the password again', async (t) => {
  const imap = await startDovecot(t)
  const { app } = await buildTestApp(t, { LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '1' })
  const src = await createSource(app, { type: 'imap', name: 'inbox', config: { host: imap.host, port: imap.port, secure: false, user: imap.user, password: imap.password, every: '1h' } })
  const patch = async (config: Json) => await app.inject({ method: 'PATCH', url: `/v1/sources/${src.id as string}`, headers: JSON_AUTH, payload: JSON.stringify({ config }) })
  for (const change of [{ host: 'localhost' }, { port: imap.port + 1 }, { user: 'other@example.test' }]) {
    const r = await patch(change)
    t.equal(r.statusCode, 400, `${Object.keys(change)[0]!} without the password is refused`)
    t.match(r.json(), { code: 'LS_ERR_SOURCE_SECRET_REQUIRED', detail: /password/ })
  }
  t.equal((await patch({ mailbox: 'Archive', every: '2h' })).statusCode, 200, 'other keys change without it')
  t.equal((await patch({ host: imap.host })).statusCode, 200, 'the same host is not a change')
  const ok = await patch({ host: 'localhost', password: imap.password })
  t.equal(ok.statusCode, 200, 'with the password given again the host changes')
  t.match(ok.json(), { config: { host: 'localhost' } })
})

t.test('without TLS the password is not sent unless allowInsecure is set', async (t) => {
  const imap = await startDovecot(t) // ssl = no: no STARTTLS capability
  const { app } = await buildTestApp(t, { LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '1' })
  const src = await createSource(app, { type: 'imap', name: 'plain', config: { host: imap.host, port: imap.port, secure: false, user: imap.user, password: imap.password, every: '1h' } })
  const id = src.id as string
  const s = await waitForStats(app, id, (x) => x.lastPoll !== null)
  t.match(s, { lastPoll: { status: 'failed', error: { code: 'LS_ERR_IMAP_INSECURE', message: /STARTTLS/ } }, lastError: { code: 'LS_ERR_IMAP_INSECURE' } })
  t.notMatch(imap.log(), /Login: user=|passwd-file\(/, 'dovecot saw no login attempt')

  // the opt-in logs in over the plain connection (and the log check above would have seen it)
  const r = await app.inject({ method: 'PATCH', url: `/v1/sources/${id}`, headers: JSON_AUTH, payload: JSON.stringify({ config: { allowInsecure: true } }) })
  t.equal(r.statusCode, 200)
  await waitForStats(app, id, (x) => x.lastPoll?.status === 'ok')
  t.match(imap.log(), /Login: user=<leads@example\.test>/)
})
