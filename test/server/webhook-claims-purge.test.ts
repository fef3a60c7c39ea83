// Webhook attempt claims are purged a day after they expire. Where a query on `expiresAt` reads every claim (the
// embedded FerretDB), each claim has an expiry marker and the purge reads `_id` ranges of what expired, so its cost
// follows what expired, not every delivery attempt ever made; claims stored before markers existed are purged once by
// a query. Driven through real deliveries to a real HTTP receiver.
import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { CommandStartedEvent, Document } from 'mongodb'
import { buildApp } from '../../server/src/app.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { AUTH, freshDbName, postEvents, testConfig, testMongoUri, waitForScoring } from '../helpers/harness.js'

const DAY = 24 * 3_600_000
const ENV = { LEADSCORE_WEBHOOKS_ALLOW_PRIVATE: '1', LEADSCORE_WEBHOOKS_POLL_MS: '50', LEADSCORE_WEBHOOKS_TIMEOUT_MS: '5000' }

t.test('claims go a day after they expire, by expiry markers where a query reads them all', async (t) => {
  const uri = await testMongoUri(t)
  const name = freshDbName()
  const db = await openDatabase(uri, name, { monitorCommands: true })
  const clock = { offset: 0 }
  const now = (): Date => new Date(Date.now() + clock.offset)
  // a claim stored before markers existed, expired three days ago
  const old = new Date(now().getTime() - 3 * DAY)
  await db.c.webhookClaims.insertOne({ _id: 'dl_legacy#1', owner: 'dp_old', at: old, expiresAt: old })
  const app = await buildApp(testConfig(uri, name, ENV), { logger: false, database: db, now })
  await app.ready()
  t.teardown(async () => { await app.close(); await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const filters: Document[] = []
  db.client.on('commandStarted', (e: CommandStartedEvent) => {
    const watched = ['webhookClaims', 'webhookClaimExpiry']
    if (watched.includes(e.command.find as string)) filters.push(e.command.filter as Document)
    if (watched.includes(e.command.delete as string)) for (const d of e.command.deletes as Document[]) filters.push(d.q as Document)
  })

  // a receiver, a subscription, and two leads that cross into MQL: two deliveries, one attempt each
  const received: string[] = []
  const server = http.createServer((req, res) => { received.push(String(req.headers['webhook-id'])); req.resume(); req.on('end', () => res.end('ok')) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`
  t.equal((await app.inject({ method: 'POST', url: '/v1/webhooks', headers: AUTH, payload: { url, events: ['lead.stage_changed'] } })).statusCode, 201)
  const at = now().toISOString()
  for (const who of ['ada', 'bo']) {
    t.equal((await postEvents(app, { events: [{ externalId: `${who}-1`, lead: { email: `${who}@example.com` }, type: 'demo_request', occurredAt: at }] })).statusCode, 202)
  }
  await waitForScoring(db)
  for (let i = 0; i < 200 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 50))
  t.equal(received.length, 2, 'both crossings were delivered')
  const claims = (await db.c.webhookClaims.find({ _id: { $ne: 'dl_legacy#1' } }).toArray()).map((c) => c._id).sort()
  t.equal(claims.length, 2, 'one claim per attempt')
  const markers = db.ferret && db.idRange
  const marked = (await db.c.webhookClaimExpiry.find({ _id: { $regex: /^~exp\|/ } }).toArray()).map((m) => m._id)
  if (markers) t.same(claims.map((id) => marked.filter((m) => m.endsWith(`|${id}`)).length), [1, 1], 'each claim has its expiry marker')
  else t.same(marked, [], 'where a query on the expiry time is served by an index, no markers')

  // the sweeper's first run (at start) or this one purges the old claim stored without a marker
  const purge = async (): Promise<number> => await app.core.dispatcher.purgeClaims(new Date(now().getTime() - DAY))
  await purge()
  t.equal(await db.c.webhookClaims.countDocuments({ _id: 'dl_legacy#1' }), 0, 'the claim stored before markers existed is purged')
  t.same((await db.c.webhookClaims.find({}).toArray()).map((c) => c._id).sort(), claims, 'the fresh claims stay: they expired less than a day ago, if at all')

  clock.offset += 2 * DAY
  filters.length = 0
  t.equal(await purge(), 2, 'two days later both are purged')
  t.equal(await db.c.webhookClaims.countDocuments({}), 0, 'no claim is left')
  if (markers) {
    t.same(filters.filter((f) => !('_id' in f)), [], 'every read and delete of the purge named `_id`s')
    t.same((await db.c.webhookClaimExpiry.find({}).toArray()).map((m) => m._id), ['~legacy-purged'], 'their markers are gone; the query purge is recorded as done')
  }
  t.equal(await purge(), 0, 'nothing more to purge')
})
