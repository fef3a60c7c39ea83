// The Sources pages' plain-TypeScript logic: the config form built from a source type's JSON Schema (the server's
// own schemas, as GET /v1/source-types publishes them), the config it sends, and how sources are described.
import t from 'tap'
import { WebhookConfig } from '@leadscore/plugin-source-webhook'
import { ImapConfig } from '@leadscore/plugin-source-imap'
import { buildConfig, configFields, endpointUrl, humanize, initialValues } from '../../console/src/lib/sources/config-form.js'
import { hasStoredReject, prettyRaw, sourceStatus, typeLabel, typeSummary } from '../../console/src/lib/sources/source-view.js'

// what the route sends: the TypeBox schema as JSON
const asJson = (s: unknown): unknown => JSON.parse(JSON.stringify(s))

t.test('fields of the webhook schema', async (t) => {
  const fields = configFields(asJson(WebhookConfig), ['signingSecret'])
  const by = new Map(fields.map((f) => [f.key, f]))
  t.same(fields.map((f) => f.key), ['adapter', 'signingSecret', 'toleranceSeconds', 'maxBodyBytes', 'mapping'], 'in the schema\'s order')
  t.match(by.get('adapter'), { kind: 'enum', options: ['standard', 'stripe', 'github'], default: 'standard', required: false })
  t.match(by.get('signingSecret'), { kind: 'secret', generated: true, required: false }, 'a generated secret may be left empty')
  t.match(by.get('toleranceSeconds'), { kind: 'integer', label: 'Tolerance seconds', minimum: 1, maximum: 3600, default: 300, required: false })
  t.match(by.get('mapping'), { kind: 'json', required: false })

  const values = initialValues(fields)
  t.same(values, { adapter: 'standard', signingSecret: '', toleranceSeconds: '300', maxBodyBytes: '262144', mapping: '' })
  t.same(buildConfig(fields, values), { config: {}, errors: {} }, 'defaults are left to the server')

  t.same(buildConfig(fields, { ...values, adapter: 'stripe', signingSecret: 'whsec_abc', toleranceSeconds: ' 60 ', mapping: '{"fixedType":"purchase"}' }).config,
    { adapter: 'stripe', signingSecret: 'whsec_abc', toleranceSeconds: 60, mapping: { fixedType: 'purchase' } })
  t.same(buildConfig(fields, { ...values, toleranceSeconds: '99999', maxBodyBytes: '1.5', mapping: '{', adapter: 'nope' }).errors, {
    toleranceSeconds: 'At most 3600', maxBodyBytes: 'Enter a whole number', mapping: 'Enter valid JSON', adapter: 'Choose one of standard, stripe, github',
  })
  t.same(buildConfig(fields, { ...values, mapping: '"x"' }).errors, { mapping: 'Enter a JSON object' })
})

t.test('fields of the IMAP schema: required values, a supplied secret, lists and booleans', async (t) => {
  const fields = configFields(asJson(ImapConfig), ['password'], ['password'])
  const by = new Map(fields.map((f) => [f.key, f]))
  t.match(by.get('host'), { kind: 'text', required: true })
  t.match(by.get('password'), { kind: 'secret', generated: false, required: true }, 'a password is never generated')
  t.match(by.get('port'), { kind: 'integer', required: false, default: 993 })
  t.match(by.get('secure'), { kind: 'boolean', default: true })
  t.match(by.get('ignoreFrom'), { kind: 'list' })
  const values = initialValues(fields)
  t.equal(values.secure, true)
  t.same(buildConfig(fields, values).errors, { host: 'Enter host', user: 'Enter user', password: 'Enter password' })
  const r = buildConfig(fields, { ...values, host: 'imap.example.com', user: 'sales@example.com', password: 'app pw', secure: false, ignoreFrom: 'a@example.com\n@noreply.example.com, b@example.com\n', every: 'often' })
  t.same(r.errors, { every: 'This value has the wrong format' }, 'patterns are checked')
  const ok = buildConfig(fields, { ...values, host: 'imap.example.com', user: 'sales@example.com', password: 'app pw', secure: false, ignoreFrom: 'a@example.com\n@noreply.example.com, b@example.com\n' })
  t.same(ok, { config: { host: 'imap.example.com', secure: false, user: 'sales@example.com', password: 'app pw', ignoreFrom: ['a@example.com', '@noreply.example.com', 'b@example.com'] }, errors: {} })
  t.same(configFields(null, []), [], 'no schema, no fields')
})

t.test('descriptions of sources', async (t) => {
  const stats = { deliveries: 0, rejectedDeliveries: 0, accepted: 0, duplicates: 0, rejected: 0, lastDeliveryAt: null, lastEventAt: null, lastError: null, lastPoll: null }
  const err = { at: '2025-01-02T00:00:00.000Z', code: 'LS_ERR_WEBHOOK_SIGNATURE', message: 'no signature matches' }
  t.same(sourceStatus({ enabled: false, stats }), { label: 'Disabled', tone: 'muted' })
  t.same(sourceStatus({ enabled: true, stats }), { label: 'Waiting', tone: 'muted' })
  t.same(sourceStatus({ enabled: true, stats: { ...stats, lastEventAt: '2025-01-01T00:00:00.000Z', lastDeliveryAt: '2025-01-01T00:00:00.000Z' } }), { label: 'Active', tone: 'success' })
  t.same(sourceStatus({ enabled: true, stats: { ...stats, lastEventAt: '2025-01-01T00:00:00.000Z', lastError: err } }), { label: 'Refusing', tone: 'warning' }, 'an error after the last event')
  t.same(sourceStatus({ enabled: true, stats: { ...stats, lastEventAt: '2025-01-03T00:00:00.000Z', lastError: err } }), { label: 'Active', tone: 'success' }, 'events since the error')
  const poll = { at: err.at, events: 0, error: err, nextAt: null }
  t.same(sourceStatus({ enabled: true, stats: { ...stats, lastPoll: { ...poll, status: 'failed' } } }), { label: 'Polling stopped', tone: 'danger' })
  t.same(sourceStatus({ enabled: true, stats: { ...stats, lastPoll: { ...poll, status: 'retrying' } } }), { label: 'Retrying', tone: 'warning' })

  t.equal(typeLabel({ type: 'webhook', config: { adapter: 'github' } }), 'Webhook · github')
  t.equal(typeLabel({ type: 'imap', config: {} }), 'IMAP mailbox')
  t.equal(typeLabel({ type: 'acme_formly', config: {} }), 'acme_formly', 'other types by their id')
  t.equal(typeSummary({ id: 'acme_formly', endpoints: [{ method: 'POST', url: '/v1/sources/{id}/formly', summary: '' }], polls: '5m', batch: [] }), 'Receives POST …/formly; polls (5m).')
  t.equal(humanize('rejectUnauthorized'), 'Reject unauthorized')
  t.equal(endpointUrl('http://127.0.0.1:3000', '/v1/sources/src_1/webhook'), 'http://127.0.0.1:3000/v1/sources/src_1/webhook')
  t.ok(hasStoredReject({ at: err.at, kind: 'event', code: 'X', message: 'm', requestId: 'r', index: 0 }))
  t.notOk(hasStoredReject({ at: err.at, kind: 'poll', code: 'X', message: 'm', requestId: null, index: null }), 'a failed poll stores nothing')
  t.equal(prettyRaw('{"a":1}'), '{\n  "a": 1\n}')
  t.equal(prettyRaw('not json'), 'not json')
})
