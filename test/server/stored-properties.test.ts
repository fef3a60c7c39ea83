// Events store their properties, and the lead attributes they carry, packed in one binary value each
// (events/stored-properties.ts): what the API, scoring and exports read must be what was sent, and events stored
// before they were packed must still read.
import t from 'tap'
import { Binary } from 'mongodb'
import { packProperties, unpackProperties } from '../../server/src/domain/events/stored-properties.js'
import { encodeKeys } from '../../server/src/lib/keys.js'
import { leadIdOf } from '../../server/src/domain/ids.js'
import { DEFAULT_SOURCE } from '../../server/src/domain/rulesets/default-ruleset.js'
import { AUTH, buildTestApp, postEvents, waitForScoring } from '../helpers/harness.js'

const RULES = `${DEFAULT_SOURCE}
rule "Pricing page" when event.type == "page_view" and event.properties.path startsWith "/pricing" then +10 intent "Looked at pricing"
fit rule "Technical buyer" when lead.attributes.title == "CTO" then +15 "Technical buyer"
`

t.test('properties are packed and unpacked as they were; plain ones and none read too', async (t) => {
  const properties = encodeKeys({ path: '/pricing', 'utm.source': 'news', n: 3, x: 2.5, ok: true, none: null, list: [1, 'a', { b: [] }], deep: { a: { b: { c: 'd' } } } }) as Record<string, unknown>
  const packed = packProperties(properties)
  t.ok(packed instanceof Binary)
  t.same(unpackProperties(packed), properties, 'the same keys (still encoded) and values')
  t.same(unpackProperties(properties), properties, 'properties stored before packing are read as they are')
  t.same(unpackProperties(undefined), {}, 'none: an empty object')
  t.same(unpackProperties(packProperties({})), {})
})

t.test('an event stores both packed; the API, the lead and the rules see them as sent', async (t) => {
  const { db, app } = await buildTestApp(t)
  const send = async (method: string, url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await app.inject({ method: method as 'POST', url, headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(body) })
    return { status: r.statusCode, body: r.json() }
  }
  const draft = await send('POST', '/v1/rulesets', { source: RULES })
  t.equal(draft.status, 201, JSON.stringify(draft.body).slice(0, 300))
  t.equal((await send('POST', `/v1/rulesets/${draft.body.version as number}/publish`, {})).status, 200)
  const email = 'props@example.com'
  const properties = { path: '/pricing', 'utm.source': 'news', seats: 12, nested: { a: [1, 2, { b: 'c' }] } }
  const res = await postEvents(app, { lead: { email, attributes: { title: 'CTO', 'team.size': 40 } }, type: 'page_view', properties, occurredAt: '2026-01-05T09:00:00Z' })
  t.equal(res.statusCode, 202)
  await waitForScoring(db)
  const eventId = res.json().results[0].eventId as string
  const stored = (await db.c.events.findOne({ _id: eventId }))!
  t.ok(stored.properties instanceof Binary, 'the properties are one binary value')
  t.ok(stored.leadProfile?.attributes instanceof Binary, 'and so are the attributes the event carries')
  t.same((await app.inject({ url: `/v1/events/${eventId}`, headers: AUTH })).json().properties, properties, 'the API gives the properties back as sent')
  const lead = (await db.c.leads.findOne({ _id: leadIdOf(`email:${email}`) }))!
  t.same(lead.attributes, encodeKeys({ title: 'CTO', 'team.size': 40 }), 'the lead took the attributes the event carried')
  const history = (await app.inject({ url: `/v1/leads/${lead._id}/history`, headers: AUTH })).json().items as Array<{ reasons: Array<{ ruleId: string }> }>
  const fired = history.flatMap((h) => h.reasons.map((r) => r.ruleId))
  t.ok(fired.includes('pricing-page'), 'a rule on event.properties.path fired')
  t.ok(fired.includes('technical-buyer'), 'a fit rule on the attributes the event carried fired')
})
