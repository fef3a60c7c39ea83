// Free-form keys a stored document cannot hold as they are ("", ".", a leading "$", NUL, white space at either end) in
// ruleset rules and settings and in lead attributes are stored and read back exactly; a ruleset that nests deeper
// than a stored document may is a 400 problem, never a 500.
import t from 'tap'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { assertProblem } from '../helpers/ledger.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('settings with ".", "$", "%" and NUL in keys round-trip through PUT /v1/rulesets/active', async (t) => {
  const { app } = await buildTestApp(t)
  const settings = {
    eventTypes: { aliases: { 'page.viewed': 'page_view' } },
    'x.y': { $gt: 1, 'a\u0000b': [{ '%2E': 'literal percent', 'c.d': null }] },
  }
  const put = await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: AUTH, payload: { rules: [], settings, note: 'odd keys' } })
  t.equal(put.statusCode, 201, put.body)
  t.same((put.json() as Json).settings, settings, 'the response has the keys as sent')
  const active = (await app.inject({ method: 'GET', url: '/v1/rulesets/active', headers: AUTH })).json() as Json
  t.same(active.settings, settings, 'read back exactly')
  const list = (await app.inject({ method: 'GET', url: '/v1/rulesets', headers: AUTH })).json() as Json
  t.same(list.items.find((r: Json) => r.version === active.version)?.settings, settings, 'the list decodes them too')
})

t.test('a rules-language alias for a dotted event type is stored as a draft and published', async (t) => {
  const { app } = await buildTestApp(t)
  const source = 'event type "page.viewed" is "page_view"\nrule "Views" when event.type == "page_view" then +1\n'
  const draft = await app.inject({ method: 'POST', url: '/v1/rulesets', headers: AUTH, payload: { source } })
  t.equal(draft.statusCode, 201, draft.body)
  const version = (draft.json() as Json).version as number
  const pub = await app.inject({ method: 'POST', url: `/v1/rulesets/${version}/publish`, headers: AUTH, payload: {} })
  t.equal(pub.statusCode, 200, pub.body)
  t.same((pub.json() as Json).ruleset.settings.eventTypes.aliases, { 'page.viewed': 'page_view' })
})

t.test('a ruleset nesting deeper than a stored document may is a 400 problem', async (t) => {
  const { app } = await buildTestApp(t)
  let deep: unknown = 1
  for (let i = 0; i < 120; i++) deep = { k: deep }
  const res = await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: AUTH, payload: { rules: [], settings: { deep } } })
  assertProblem(t, res, 400, 'LS_ERR_RULESET_INVALID')
})

t.test('PATCH /v1/leads/{id} merges attributes with empty, dotted and $ keys', async (t) => {
  const { app } = await buildTestApp(t)
  const created = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'keys@example.com', attributes: { '': 'created', keep: 1 } } })
  t.equal(created.statusCode, 201, created.body)
  const id = (created.json() as Json).id as string
  const attributes = { '': { '': 'empty', 'a.b': 2 }, '%': 'percent', $x: 'dollar', 'c.d': null }
  const res = await app.inject({ method: 'PATCH', url: `/v1/leads/${id}`, headers: AUTH, payload: { attributes } })
  t.equal(res.statusCode, 200, res.body)
  t.same((res.json() as Json).attributes, { ...attributes, keep: 1 }, 'merged and decoded')
  const read = (await app.inject({ method: 'GET', url: `/v1/leads/${id}`, headers: AUTH })).json() as Json
  t.same(read.attributes, { ...attributes, keep: 1 }, 'read back exactly')
})

t.test('PATCH /v1/leads/{id} takes attribute keys that start or end with white space', async (t) => {
  const { app } = await buildTestApp(t)
  const created = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'spaces@example.com' } })
  t.equal(created.statusCode, 201, created.body)
  const id = (created.json() as Json).id as string
  // FerretDB refuses such an update path element; the keys are stored encoded and read back as sent
  const attributes = { ' lead': 1, 'trail ': 2, '\u0085x\u00a0': 3, 'in side': 4, '%x0020': 5 }
  const res = await app.inject({ method: 'PATCH', url: `/v1/leads/${id}`, headers: AUTH, payload: { attributes } })
  t.equal(res.statusCode, 200, res.body)
  t.same((res.json() as Json).attributes, attributes, 'merged and decoded')
  const read = (await app.inject({ method: 'GET', url: `/v1/leads/${id}`, headers: AUTH })).json() as Json
  t.same(read.attributes, attributes, 'read back exactly')
})

t.test('arrays nested in arrays round-trip in lead attributes, event properties and ruleset settings', async (t) => {
  const { app } = await buildTestApp(t)
  const nested = { m: [[1, [2, []]], [], 'x', { '%a': ['looks like the wrapper'] }] }
  const lead = await app.inject({ method: 'POST', url: '/v1/leads', headers: AUTH, payload: { email: 'nested@example.com', attributes: nested } })
  t.equal(lead.statusCode, 201, lead.body)
  const id = (lead.json() as Json).id as string
  t.same(((await app.inject({ method: 'GET', url: `/v1/leads/${id}`, headers: AUTH })).json() as Json).attributes, nested, 'lead attributes')
  const patched = await app.inject({ method: 'PATCH', url: `/v1/leads/${id}`, headers: AUTH, payload: { attributes: { n: [[3]] } } })
  t.equal(patched.statusCode, 200, patched.body)
  t.same((patched.json() as Json).attributes, { ...nested, n: [[3]] }, 'patched attributes')
  const ev = await app.inject({ method: 'POST', url: '/v1/events', headers: AUTH, payload: { externalId: 'nested-1', lead: { email: 'nested@example.com' }, type: 'page_view', properties: nested } })
  t.equal(ev.statusCode, 202, ev.body)
  const events = await app.inject({ method: 'GET', url: '/v1/events?limit=5', headers: AUTH })
  t.equal(events.statusCode, 200, events.body)
  t.same((events.json() as Json).items?.find((e: Json) => e.externalId === 'nested-1')?.properties, nested, 'event properties')
  const put = await app.inject({ method: 'PUT', url: '/v1/rulesets/active', headers: AUTH, payload: { rules: [], settings: { extra: nested } } })
  t.equal(put.statusCode, 201, put.body)
  t.same(((await app.inject({ method: 'GET', url: '/v1/rulesets/active', headers: AUTH })).json() as Json).settings, { extra: nested }, 'ruleset settings')
})
