// The IMAP source against a real dovecot on 127.0.0.1: replies become email_reply events, the cursor (UIDVALIDITY +
// last UID) moves only after the events are stored, a new UIDVALIDITY is read again with duplicates recognised by
// Message-ID, and login, mailbox and connection failures are reported per source.
import t from 'tap'
import { buildTestApp, postEvents, AUTH } from '../helpers/harness.js'
import { createSource, getSource, waitForStats } from '../helpers/sources.js'
import { startDovecot, mail } from '../helpers/dovecot.js'
import { runSourceConformance } from '../../server/src/testing/index.js'
import { imapSource } from '@leadscore/plugin-source-imap'
import { unpackProperties } from '../../server/src/domain/events/stored-properties.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

// the test dovecot listens on 127.0.0.1 without TLS: these tests allow private hosts (server setting) and set
// allowInsecure on each source; imap-guard.test.ts checks the refusals without them
const LOOPBACK = { LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '1' }

t.test('replies in a mailbox become events; the cursor follows UIDVALIDITY', async (t) => {
  const imap = await startDovecot(t)
  const client = await imap.client()
  t.teardown(async () => { await client.logout().catch(() => undefined) })
  await client.mailboxCreate('Leads')
  await client.append('Leads', mail({ from: 'Ada Lovelace <Ada@Example.com>', subject: 'Re: pricing', messageId: '<m1@example.com>', inReplyTo: '<out1@acme.test>' }))
  await client.append('Leads', mail({ from: 'bob@example.com', subject: 'a newsletter', messageId: '<news@example.com>' })) // not a reply
  await client.append('Leads', mail({ from: 'Colleague <sam@acme.test>', subject: 'Re: internal', messageId: '<int@acme.test>', inReplyTo: '<x@acme.test>' })) // ignored sender
  await client.append('Leads', mail({ from: 'cleo@example.com', subject: 'Re: demo', messageId: null, inReplyTo: '<out2@acme.test>' })) // no Message-ID
  await client.append('Leads', mail({ from: 'dan@example.com', subject: 'Re: Re: trial', messageId: '<m5@example.com>', references: '<out3@acme.test> <out4@acme.test>' }))

  const { app, db } = await buildTestApp(t, LOOPBACK)
  const src = await createSource(app, {
    type: 'imap', name: 'sales inbox',
    config: { host: imap.host, port: imap.port, secure: false, allowInsecure: true, user: imap.user, password: imap.password, mailbox: 'Leads', every: '1h', ignoreFrom: ['@acme.test'] },
  })
  const id = src.id as string
  t.same(src.secretValues, { password: imap.password })
  t.notOk(JSON.stringify(await getSource(app, id)).includes(imap.password), 'the password is write-only')

  // the first poll runs when the source is created
  const first = await waitForStats(app, id, (s) => s.lastPoll !== null)
  t.match(first, { accepted: 3, lastPoll: { status: 'ok', events: 3 } })
  const events = await db.c.events.find({ sourceId: id }).toArray()
  t.same(events.map((e) => e.type), ['email_reply', 'email_reply', 'email_reply'])
  const ada = events.find((e) => e.externalId === 'm1@example.com')
  t.ok(ada, 'the Message-ID is the event id')
  t.match(ada, { occurredAt: new Date('2025-03-01T10:00:00Z') })
  t.match(unpackProperties(ada?.properties), { subject: 'Re: pricing', messageId: '<m1@example.com>', inReplyTo: '<out1@acme.test>', mailbox: 'Leads' })
  t.ok(events.some((e) => /^src:[0-9a-f]{40}$/.test(e.externalId)), 'a message without Message-ID is identified by a hash of its source')
  t.ok(events.some((e) => e.externalId === 'm5@example.com'), 'a reply known by References only')
  const lead = (await app.inject({ url: `/v1/leads/${ada!.leadId}`, headers: AUTH })).json<Json>()
  t.match(lead, { email: 'ada@example.com' })
  const cursor = JSON.parse((await db.c.sourceState.findOne({ _id: `${id}/~cursor` }))!.value) as { v: string; uid: number }
  t.equal(cursor.uid, 5, 'the cursor is past every message read, skipped ones included')

  await client.append('Leads', mail({ from: 'eve@example.com', subject: 'Re: contract', messageId: '<m6@example.com>', inReplyTo: '<out5@acme.test>' }))
  const next = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(next.json(), { status: 'ok', events: 1 })

  // the mailbox is recreated: a new UIDVALIDITY, the same messages (and one new) under new UIDs
  await client.mailboxDelete('Leads')
  await client.mailboxCreate('Leads')
  await client.append('Leads', mail({ from: 'Ada Lovelace <ada@example.com>', subject: 'Re: pricing', messageId: '<m1@example.com>', inReplyTo: '<out1@acme.test>' }))
  await client.append('Leads', mail({ from: 'eve@example.com', subject: 'Re: contract', messageId: '<m6@example.com>', inReplyTo: '<out5@acme.test>' }))
  await client.append('Leads', mail({ from: 'fay@example.com', subject: 'Re: onboarding', messageId: '<m7@example.com>', inReplyTo: '<out6@acme.test>' }))
  const resync = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(resync.json(), { status: 'ok', events: 3 })
  t.equal(await db.c.events.countDocuments({ sourceId: id }), 5, 'after the resync: only the new message was added')
  const after = JSON.parse((await db.c.sourceState.findOne({ _id: `${id}/~cursor` }))!.value) as { v: string; uid: number }
  t.not(after.v, cursor.v, 'the cursor carries the new UIDVALIDITY')
  t.equal(after.uid, 3)
  const stats = await waitForStats(app, id, (s) => s.duplicates === 2)
  t.match(stats, { accepted: 5, duplicates: 2, rejected: 0 })
})

t.test('the cursor moves only after the events are stored', async (t) => {
  const imap = await startDovecot(t)
  const client = await imap.client()
  t.teardown(async () => { await client.logout().catch(() => undefined) })
  const { app, db } = await buildTestApp(t, LOOPBACK)
  const src = await createSource(app, { type: 'imap', name: 'inbox', config: { host: imap.host, port: imap.port, secure: false, allowInsecure: true, user: imap.user, password: imap.password, every: '1h' } })
  const id = src.id as string
  await waitForStats(app, id, (s) => s.lastPoll?.status === 'ok')
  const before = (await db.c.sourceState.findOne({ _id: `${id}/~cursor` }))!.value

  // make storing a new lead fail in the real database: a unique index that the next lead insert breaks
  t.equal((await postEvents(app, { externalId: 'seed', lead: { email: 'seed@example.com' }, type: 'page_view' })).statusCode, 202)
  await db.db.collection('leads').createIndex({ status: 1 }, { unique: true, name: 'test_blocks_new_leads' })
  await client.append('INBOX', mail({ from: 'gus@example.com', subject: 'Re: quote', messageId: '<g1@example.com>', inReplyTo: '<q@acme.test>' }))
  const failed = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(failed.json(), { status: 'retrying', error: { code: 'LS_ERR_PLUGIN_FAILED' } })
  t.equal((await db.c.sourceState.findOne({ _id: `${id}/~cursor` }))!.value, before, 'the cursor did not move')
  t.equal(await db.c.events.countDocuments({ sourceId: id }), 0)

  await db.db.collection('leads').dropIndex('test_blocks_new_leads')
  const ok = await app.inject({ method: 'POST', url: `/v1/sources/${id}/poll`, headers: AUTH })
  t.match(ok.json(), { status: 'ok', events: 1 })
  t.equal(await db.c.events.countDocuments({ sourceId: id, externalId: 'g1@example.com' }), 1, 'the message was not lost')
  t.not((await db.c.sourceState.findOne({ _id: `${id}/~cursor` }))!.value, before)
})

t.test('login, mailbox and connection failures are reported per source', async (t) => {
  const imap = await startDovecot(t)
  const { app } = await buildTestApp(t, LOOPBACK)
  const base = { host: imap.host, port: imap.port, secure: false, allowInsecure: true, user: imap.user, password: imap.password, every: '1h' }

  const missing = await app.inject({ method: 'POST', url: '/v1/sources', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify({ type: 'imap', name: 'x', config: { ...base, password: undefined } }) })
  t.match(missing.json(), { status: 400, code: 'LS_ERR_SOURCE_CONFIG_INVALID', detail: /password/ }, 'a password is never generated')

  const badLogin = await createSource(app, { type: 'imap', name: 'bad login', config: { ...base, password: 'wrong' } })
  const s1 = await waitForStats(app, badLogin.id as string, (s) => s.lastPoll !== null)
  t.match(s1, { lastPoll: { status: 'failed', nextAt: null, error: { code: 'LS_ERR_IMAP_LOGIN' } }, lastError: { code: 'LS_ERR_IMAP_LOGIN' } }, 'a refused login stops polling')
  // fixing the password re-arms it
  await app.inject({ method: 'PATCH', url: `/v1/sources/${badLogin.id as string}`, headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify({ config: { password: imap.password } }) })
  await waitForStats(app, badLogin.id as string, (s) => s.lastPoll?.status === 'ok')
  t.pass('a corrected password polls again')

  const noBox = await createSource(app, { type: 'imap', name: 'no box', config: { ...base, mailbox: 'Nope' } })
  t.match(await waitForStats(app, noBox.id as string, (s) => s.lastPoll !== null), { lastPoll: { status: 'failed', error: { code: 'LS_ERR_IMAP_MAILBOX' } } })

  const down = await createSource(app, { type: 'imap', name: 'down', config: { ...base } })
  await waitForStats(app, down.id as string, (s) => s.lastPoll?.status === 'ok')
  await imap.stop()
  const r = await app.inject({ method: 'POST', url: `/v1/sources/${down.id as string}/poll`, headers: AUTH })
  t.match(r.json(), { status: 'retrying', error: { code: 'LS_ERR_IMAP_CONNECTION' } }, 'an unreachable server is retried with backoff')
  const s3 = (await getSource(app, down.id as string)).stats as Json
  const wait = new Date(s3.lastPoll.nextAt as string).getTime() - Date.now()
  t.ok(wait > 40 * 60_000, `the retry waits about a period (${Math.round(wait / 60_000)} min)`)
})

t.test('the IMAP source passes the conformance suite', async (t) => {
  const imap = await startDovecot(t)
  const client = await imap.client()
  await client.append('INBOX', mail({ from: 'hal@example.com', subject: 'Re: hi', messageId: '<h1@example.com>', inReplyTo: '<o@acme.test>' }))
  await client.append('INBOX', mail({ from: 'ivy@example.com', subject: 'Re: hi', messageId: '<i1@example.com>', inReplyTo: '<o@acme.test>' }))
  await client.logout()
  const box = await (async () => { const c = await imap.client(); const b = await c.mailboxOpen('INBOX', { readOnly: true }); await c.logout(); return b })()
  const config = { host: imap.host, port: imap.port, secure: false, allowInsecure: true, user: imap.user, password: imap.password }
  await runSourceConformance(t, imapSource, {
    config,
    invalidConfigs: [
      { name: 'a 5 s period', config: { ...config, every: '5s' } },
      { name: 'port 993 without TLS', config: { ...config, port: 993 } },
      { name: 'a port out of range', config: { ...config, port: 70000 } },
    ],
    poll: [
      { name: 'from the start', cursor: null, expect: { events: 2 } },
      { name: 'after the first message', cursor: JSON.stringify({ v: box.uidValidity.toString(), uid: 1 }), expect: { events: 1 } },
      { name: 'from an old UIDVALIDITY (reads everything again)', cursor: JSON.stringify({ v: '1', uid: 99 }), expect: { events: 2 } },
    ],
  })
})
