// Query strings are coerced the same way on every route: a numeric ?limit= is an integer on the events, rejects and
// webhook delivery lists too (their route plugins once got a validator that did not coerce query strings).
import t from 'tap'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { createAuditService } from '../../server/src/domain/audit.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

t.test('?limit= works on every paged list', async (t) => {
  const { app } = await buildTestApp(t)
  const hook = await app.inject({ method: 'POST', url: '/v1/webhooks', headers: AUTH, payload: { url: 'https://hooks.example.com/ls', events: ['lead.stage_changed'] } })
  const hookId = hook.statusCode === 201 ? (hook.json() as Json).id as string : null
  t.equal(hook.statusCode, 201, hook.body)
  for (const url of ['/v1/events?limit=2', '/v1/rejects?limit=2', '/v1/leads?limit=2', '/v1/audit-log?limit=2', `/v1/webhooks/${hookId}/deliveries?limit=2`]) {
    const res = await app.inject({ method: 'GET', url, headers: AUTH })
    t.equal(res.statusCode, 200, `${url}: ${res.body}`)
  }
  const bad = await app.inject({ method: 'GET', url: '/v1/events?limit=two', headers: AUTH })
  t.equal(bad.statusCode, 400, 'a non-number is still refused')
})

t.test('a number in a query or path is a decimal: true/false and hex are refused, not read as 1/0', async (t) => {
  const { app } = await buildTestApp(t)
  for (const url of ['/v1/leads?limit=true', '/v1/events?limit=false', '/v1/audit-log?limit=true', '/v1/leads?minScore=false', '/v1/leads?limit=0x10', '/v1/leads?limit=1.5', '/v1/analytics/conversion-by-score?bucket=1.175494351e-38',
    '/v1/rulesets/true', '/v1/rulesets/false', '/v1/rulesets/diff?from=true&to=1', '/v1/analytics/score-distribution?bucket=true']) {
    const res = await app.inject({ method: 'GET', url, headers: AUTH })
    t.equal(res.statusCode, 400, `${url}: ${res.body}`)
    t.equal((res.json() as Json).code, 'LS_ERR_VALIDATION', url)
  }
  for (const url of ['/v1/leads?limit=1e1', '/v1/leads?minScore=-1.5', '/v1/rulesets/1']) {
    const res = await app.inject({ method: 'GET', url, headers: AUTH })
    t.equal(res.statusCode, 200, `${url}: ${res.body}`)
  }
})

t.test('the audit log pages newest first by cursor, entries of one millisecond included', async (t) => {
  const { app, db } = await buildTestApp(t)
  // one fixed instant for every entry: only the id tells them apart at a page boundary
  const at = new Date('2026-01-02T03:04:05.006Z')
  const audit = createAuditService({ c: db.c, now: () => at })
  for (let i = 0; i < 5; i++) await audit.record('tester', 'test.same_ms', `t${i}`, { i })
  // a later entry through the API (an API key), which the first page must lead with
  const key = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: AUTH, payload: { name: 'pager', scopes: ['read'] } })
  t.equal(key.statusCode, 201, key.body)

  const seen: Json[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 10; pages++) {
    const url: string = `/v1/audit-log?limit=2${cursor !== null ? `&cursor=${cursor}` : ''}`
    const res = await app.inject({ method: 'GET', url, headers: AUTH })
    t.equal(res.statusCode, 200, res.body)
    const body = res.json() as Json
    t.ok(body.items.length <= 2, 'a page holds at most limit entries')
    seen.push(...body.items as Json[])
    cursor = body.nextCursor as string | null
    if (cursor === null) break
  }
  t.equal(cursor, null, 'the last page has no next cursor')
  t.equal(seen[0]?.action, 'apikey.create', 'newest first')
  const same = seen.filter((e) => e.action === 'test.same_ms').map((e) => e.target as string)
  t.same([...same].sort(), ['t0', 't1', 't2', 't3', 't4'], 'each entry of the same millisecond is listed')
  t.equal(new Set(seen.map((e) => e.id)).size, seen.length, 'and none twice')

  const page = await audit.list({ limit: 3 })
  t.equal(page.items.length, 3)
  t.not(page.nextCursor, null)

  const bad = await app.inject({ method: 'GET', url: '/v1/audit-log?cursor=not-a-cursor', headers: AUTH })
  t.equal(bad.statusCode, 400, bad.body)
  t.equal((bad.json() as Json).code, 'LS_ERR_INVALID_CURSOR')
})
