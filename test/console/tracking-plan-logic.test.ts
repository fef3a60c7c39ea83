// The Tracking plan page's logic: rows from the plan and the counts, and the schema editor's parse.
import t from 'tap'
import { parseSchema, planRows, STARTER_SCHEMA } from '../../console/src/lib/tracking-plan/plan-rows.js'

t.test('rows: declared types in plan order with counts summed over sources, then types that only have counts', async (t) => {
  const v = (type: string, sourceId: string, warned: number, rejected: number, lastAt: string | null) =>
    ({ type, sourceId, warned, rejected, lastAt, lastMessage: lastAt === null ? null : `${type}@${sourceId}`, lastPointer: null, lastPlanVersion: 1 })
  const rows = planRows(
    [{ type: 'signup', mode: 'warn', schema: {} }, { type: 'demo_request', mode: 'enforce', schema: {}, description: 'A demo' }],
    [v('demo_request', 'api', 1, 2, '2026-01-01T00:00:00.000Z'), v('demo_request', 'crm', 0, 4, '2026-01-02T00:00:00.000Z'), v('old_type', 'api', 3, 0, null)],
  )
  t.same(rows.map((r) => [r.type, r.mode, r.warned, r.rejected]), [['signup', 'warn', 0, 0], ['demo_request', 'enforce', 1, 6], ['old_type', null, 3, 0]])
  t.equal(rows[1]!.description, 'A demo')
  t.equal(rows[1]!.lastMessage, 'demo_request@crm', 'the latest example of all sources')
  t.equal(rows[1]!.sources.length, 2)
  t.same(planRows([], []), [])
})

t.test('schema text: an object, or what is wrong', async (t) => {
  t.same(parseSchema('{"type":"object"}'), { ok: true, schema: { type: 'object' } })
  t.match(parseSchema('{"type":'), { ok: false, error: /^Not valid JSON/ })
  t.match(parseSchema('[]'), { ok: false, error: /JSON object/ })
  t.match(parseSchema('true'), { ok: false })
  t.equal(parseSchema(STARTER_SCHEMA).ok, true, 'the starter schema parses')
})
