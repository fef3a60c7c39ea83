// The request id, over real HTTP: a client's x-request-id is kept when it is at most 128 safe characters, and is
// otherwise replaced by a server-generated id, both on what is stored (events, rejects) and in problem answers.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { buildTestApp, AUTH } from '../helpers/harness.js'

const GENERATED = /^req_[0-9a-z]{19}$/

t.test('x-request-id: a valid one is kept, a huge or unsafe one is replaced and neither stored nor echoed', async (t) => {
  const { app, db } = await buildTestApp(t, {}, { startWorkers: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const post = async (externalId: string, requestId: string) => {
    const res = await fetch(`${base}/v1/events`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json', 'x-request-id': requestId },
      // the second event is invalid (no type), so the request stores a reject too
      body: JSON.stringify({ events: [{ externalId, lead: { email: `${externalId}@example.com` }, type: 'page_view' }, { externalId: `${externalId}-bad`, lead: { email: 'x@example.com' } }] }),
    })
    t.equal(res.status, 202, `${externalId}: accepted`)
    const event = await db.c.events.findOne({ externalId })
    const reject = await db.c.ingestRejects.findOne({ sourceId: event?.sourceId ?? '', index: 1, requestId: event?.requestId ?? '' })
    t.ok(event !== null && reject !== null, `${externalId}: the event and the reject are stored`)
    return { stored: event!.requestId, echoed: res.headers.get('x-request-id') }
  }
  const problem = async (requestId: string) => {
    const res = await fetch(`${base}/v1/leads/ld_nope`, { headers: { ...AUTH, 'x-request-id': requestId } })
    t.equal(res.status, 404)
    return ((await res.json()) as { requestId: string }).requestId
  }

  // kept: up to 128 characters of letters, digits and . _ : -
  for (const id of ['trace-1', 'a'.repeat(128), 'svc.api:2025-03-01_7f3a-9']) {
    const { stored } = await post(`keep-${id.length}-${id.slice(0, 5).replace(/[^a-z0-9]/gi, '')}`, id)
    t.equal(stored, id, `kept on the stored event: ${id.slice(0, 40)}`)
    t.equal(await problem(id), id, 'and named in a problem answer')
  }

  // replaced: 10 KB, one character too long, characters outside the safe set
  const cases: Array<[string, string]> = [
    ['ten-kb', 'x'.repeat(10 * 1024)], ['129', 'a'.repeat(129)], ['space', 'two words'], ['markup', '<script>alert(1)</script>'],
    ['slash', '../../etc/passwd'], ['quote', "it's"],
  ]
  for (const [name, id] of cases) {
    const { stored, echoed } = await post(`replace-${name}`, id)
    t.not(stored, id, `${name}: not stored as sent`)
    t.match(stored, GENERATED, `${name}: a server-generated id is stored instead`)
    t.ok(echoed === null || echoed !== id, `${name}: not echoed in a header`)
    const answered = await problem(id)
    t.not(answered, id, `${name}: not echoed in a problem answer`)
    t.match(answered, GENERATED, `${name}: the problem names a generated id`)
  }

  // without the header, each request gets its own id
  const a = await problem('')
  const b = await problem('')
  t.match(a, GENERATED)
  t.not(a, b, 'generated ids differ')
  const stored = await db.c.events.find({}).project<{ requestId: string }>({ requestId: 1 }).toArray()
  t.ok(stored.every((e) => e.requestId.length <= 128), 'no stored event carries a request id over 128 characters')
})
