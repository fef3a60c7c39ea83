// The example third-party plugin runs the public conformance suite exactly as an outside author would (importing
// only @leadscore/server/testing), then is installed in a real server by package name (LEADSCORE_PLUGINS).
import t from 'tap'
import { createHmac } from 'node:crypto'
import { runSourceConformance } from '@leadscore/server/testing'
import { typeformSource } from '../../../plugins/example-typeform/src/index.js'
import { buildTestApp, waitForScoring, AUTH } from '../../helpers/harness.js'
import { createSource } from '../../helpers/sources.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const SECRET = 'typeform-example-secret-0123'
const sign = (body: string, secret = SECRET): string => `sha256=${createHmac('sha256', secret).update(body).digest('base64')}`
const response = (token: string, formId = 'lT4Z3j'): string => JSON.stringify({
  event_id: `ev-${token}`,
  event_type: 'form_response',
  form_response: {
    form_id: formId, token, submitted_at: '2025-02-28T10:00:00Z',
    definition: { id: formId, title: 'Book a demo' },
    hidden: { utm_source: 'ads' },
    answers: [
      { type: 'text', text: 'Laura Lead', field: { id: 'f1', type: 'short_text', ref: 'name' } },
      { type: 'email', email: 'laura@example.com', field: { id: 'f2', type: 'email', ref: 'email' } },
      { type: 'choice', choice: { label: 'Enterprise' }, field: { id: 'f3', type: 'multiple_choice', ref: 'plan' } },
      { type: 'number', number: 250, field: { id: 'f4', type: 'number', ref: 'employees' } },
    ],
  },
})

t.test('conformance', async (t) => {
  const body = response('tok1')
  await runSourceConformance(t, typeformSource, {
    now: new Date('2025-03-01T00:00:00Z'),
    config: { secret: SECRET, nameField: 'name' },
    invalidConfigs: [
      { name: 'a short secret', config: { secret: 'short' } },
      { name: 'a bad form id', config: { secret: SECRET, forms: ['not a form id!'] } },
    ],
    http: [
      { name: 'a signed form response', headers: { 'content-type': 'application/json', 'typeform-signature': sign(body) }, body, expect: { events: 1 } },
      { name: 'another notification type', headers: { 'content-type': 'application/json', 'typeform-signature': sign('{"event_type":"form_deleted"}') }, body: '{"event_type":"form_deleted"}', expect: { events: 0 } },
      { name: 'a wrong signature', headers: { 'content-type': 'application/json', 'typeform-signature': sign(body, 'another-secret-0123456') }, body, expect: { error: 'auth' } },
      { name: 'no signature', headers: { 'content-type': 'application/json' }, body, expect: { error: 'auth' } },
      { name: 'a signed body that is not an object', headers: { 'content-type': 'application/json', 'typeform-signature': sign('[1]') }, body: '[1]', expect: { error: 'input' } },
    ],
  })
})

t.test('installed by package name, it receives responses in a real server', async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_PLUGINS: '@leadscore/plugin-example-typeform' })
  const types = (await app.inject({ url: '/v1/source-types', headers: AUTH })).json<Json>().items as Json[]
  t.ok(types.some((x) => x.id === 'example_typeform'), 'the plugin is installed')
  const src = await createSource(app, { type: 'example_typeform', name: 'demo form', config: { secret: SECRET, nameField: 'name', eventType: 'demo_request', forms: ['lT4Z3j'] } })
  t.same(src.endpoints.map((e: Json) => e.url), [`/v1/sources/${src.id as string}/typeform`])
  const body = response('tok2')
  const res = await app.inject({ method: 'POST', url: `/v1/sources/${src.id as string}/typeform`, headers: { 'content-type': 'application/json', 'typeform-signature': sign(body) }, payload: body })
  t.equal(res.statusCode, 202)
  await waitForScoring(db)
  const lead = (await app.inject({ url: `/v1/leads/${res.json<Json>().results[0].leadId as string}`, headers: AUTH })).json<Json>()
  t.match(lead, { email: 'laura@example.com', name: 'Laura Lead', score: 50 })
  const ev = await db.c.events.findOne({ sourceId: src.id })
  t.match(ev, { externalId: 'tf:tok2', type: 'demo_request' })
  // the stored properties, as the API gives them back (they are stored packed)
  const stored = (await app.inject({ url: `/v1/events/${ev!._id}`, headers: AUTH })).json<Json>()
  t.match(stored.properties, { formId: 'lT4Z3j', formTitle: 'Book a demo', answers: { plan: 'Enterprise', employees: 250 } })

  const bad = await app.inject({ method: 'POST', url: `/v1/sources/${src.id as string}/typeform`, headers: { 'content-type': 'application/json', 'typeform-signature': sign(body, 'wrong-secret-000000') }, payload: body })
  t.match(bad.json(), { status: 401, code: 'EXAMPLE_TYPEFORM_ERR_SIGNATURE', type: '/problems/example-typeform-err-signature' }, 'the plugin\'s own code reaches the sender')
  const other = response('tok3', 'OtherForm')
  const ignored = await app.inject({ method: 'POST', url: `/v1/sources/${src.id as string}/typeform`, headers: { 'content-type': 'application/json', 'typeform-signature': sign(other) }, payload: other })
  t.match(ignored.json(), { status: 'empty' }, 'a response to another form is acknowledged and ignored')
})
