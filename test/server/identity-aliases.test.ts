// Leads known by an external id: an event naming only the id joins the lead that carries it, found through an alias
// looked up by `_id` (never a query on leads.externalId), and scoring many such leads costs no query that reads the
// leads collection.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import { leadIdOf } from '../../server/src/domain/ids.js'

t.test('an event naming only an external id joins the email lead that carries it', async (t) => {
  const { app, db } = await buildTestApp(t)
  // the email lead gets external id crm-7 from an event's profile, applied when the event is scored
  const first = await postEvents(app, { externalId: 'a1', lead: { email: 'ada@example.com', externalId: 'crm-7' }, type: 'page_view' })
  t.equal(first.statusCode, 202)
  const adaId = first.json().results[0].leadId as string
  await waitForScoring(db)
  t.match(await db.c.leadAliases.findOne({ _id: 'ext:crm-7' }), { leadId: adaId, key: 'email:ada@example.com' }, 'the alias names the email lead')

  const second = await postEvents(app, { externalId: 'a2', lead: { externalId: 'crm-7' }, type: 'demo_request' })
  t.equal(second.json().results[0].leadId, adaId, 'the event joins the email lead')
  t.equal(await db.c.leads.countDocuments({ _id: leadIdOf('ext:crm-7') }), 0, 'no separate lead was created for the id')
  await waitForScoring(db)
  t.match((await app.inject({ url: `/v1/leads/${adaId}`, headers: AUTH })).json(), { email: 'ada@example.com', externalId: 'crm-7' })

  // an id that already has a lead of its own keeps it: another email lead claiming it gets no alias
  const own = await postEvents(app, { externalId: 'b1', lead: { externalId: 'crm-8' }, type: 'page_view' })
  const ownId = own.json().results[0].leadId as string
  t.equal(ownId, leadIdOf('ext:crm-8'))
  await postEvents(app, { externalId: 'b2', lead: { email: 'bob@example.com', externalId: 'crm-8' }, type: 'page_view' })
  await waitForScoring(db)
  t.equal(await db.c.leadAliases.findOne({ _id: 'ext:crm-8' }), null, 'no alias for an id with its own lead')
  t.equal((await postEvents(app, { externalId: 'b3', lead: { externalId: 'crm-8' }, type: 'page_view' })).json().results[0].leadId, ownId, 'its events stay there')

  // erasing the lead (without suppressing its identity) forgets its alias: the id then starts a lead of its own
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/leads/${adaId}?suppress=false`, headers: AUTH })).statusCode, 204)
  t.equal(await db.c.leadAliases.findOne({ _id: 'ext:crm-7' }), null, 'the alias went with the lead')
  t.equal((await postEvents(app, { externalId: 'a3', lead: { externalId: 'crm-7' }, type: 'page_view' })).json().results[0].leadId, leadIdOf('ext:crm-7'))
})

t.test('a lead created with an email and an external id is found by the id at once', async (t) => {
  const { app } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const created = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'cy@example.com', externalId: 'crm-9' } })
  t.equal(created.statusCode, 201)
  const res = await postEvents(app, { externalId: 'c1', lead: { externalId: 'crm-9' }, type: 'page_view' })
  t.equal(res.json().results[0].leadId, created.json().id, 'no scoring run needed: the alias is written with the lead')
})

t.test('aliases of leads stored before aliases existed are written once at boot', async (t) => {
  const first = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const created = await first.app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'di@example.com', externalId: 'crm-10' } })
  t.equal(created.statusCode, 201)
  // as an older version left it: the lead, and no alias or boot marker
  await first.db.c.leadAliases.deleteMany({})
  t.equal(await first.app.core.identity.backfillOnce(), 1, 'one lead carries an external id beside its email')
  t.match(await first.db.c.leadAliases.findOne({ _id: 'ext:crm-10' }), { leadId: created.json().id })
  t.equal(await first.app.core.identity.backfillOnce(), 0, 'the second boot does not read the leads again')
})

t.test('a stream of many leads known only by an external id is scored in batches, each lead once', async (t) => {
  const { app, db } = await buildTestApp(t)
  const events = Array.from({ length: 300 }, (_, i) => ({ externalId: `s${i}`, lead: { externalId: `user-${i % 150}` }, type: i % 2 === 0 ? 'page_view' : 'email_open' }))
  for (let i = 0; i < events.length; i += 100) t.equal((await postEvents(app, { events: events.slice(i, i + 100) })).statusCode, 202)
  // generous: the suite runs two files at once, and the other may be a multi-process one
  await waitForScoring(db, 180_000)
  const scored = app.core.metrics.eventsScored.values.get('') ?? 0
  t.equal(scored, 300, 'every event scored once')
  t.equal(await db.c.leads.countDocuments({}), 150, 'one lead per external id')
  t.equal(await db.c.scoreHistory.countDocuments({ committed: true, superseded: false }), 300, 'one visible ledger entry per event')
})
