// The example third-party scoring plugin runs the public scoring conformance suite as an outside author would
// (importing only @leadscore/server/testing and the package), then is installed in a real server by package name
// (LEADSCORE_PLUGINS): its points and reasons land in the ledger, rules read its fact, and a JSON rule uses its
// operator.
import t from 'tap'
import type { ScoringInput } from '@leadscore/server/contracts'
import { runScoringConformance } from '@leadscore/server/testing'
import emailDomain, { domainKind } from '@leadscore/plugin-example-email-domain'
import { buildTestApp, waitForScoring, postEvents, AUTH } from '../../helpers/harness.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const input = (email: string | null, type = 'page_view'): ScoringInput => ({
  lead: { id: 'ld_1', email, externalId: null, name: 'Ann', company: null, attributes: { industry: 'software', tags: ['a', 'b'] }, status: 'open', sources: ['api'] },
  event: { id: 'ev_1', sourceId: 'api', type, occurredAt: new Date('2026-03-01T10:00:00Z'), properties: { path: '/pricing', utm: { source: 'ads' } } },
  score: { total: 5, engagement: 5, fit: 0, intent: 0, stage: '' },
  rulesetVersion: 3,
})

t.test('the lists are the maintained packages', async (t) => {
  t.equal(domainKind('gmail.com'), 'free')
  t.equal(domainKind('mailinator.com'), 'disposable', 'on both lists: disposable wins')
  t.equal(domainKind('eu.mailinator.com'), 'disposable', 'a subdomain of a listed domain')
  t.equal(domainKind('acme-industrial.com'), 'business')
})

t.test('conformance', async (t) => {
  await runScoringConformance(t, emailDomain, {
    inputs: [
      { name: 'a business address', input: input('bob@acme-industrial.com'), expectRules: ['business'], expectFacts: { kind: 'business', domain: 'acme-industrial.com' } },
      { name: 'a free-mail address (0 points by default: nothing proposed)', input: input('ann@gmail.com'), expectRules: [], expectFacts: { kind: 'free', domain: 'gmail.com' } },
      { name: 'a disposable address', input: input('cat@Mailinator.com'), expectRules: ['disposable'], expectFacts: { kind: 'disposable', domain: 'mailinator.com' } },
      { name: 'no email', input: input(null), expectRules: [], expectFacts: { kind: null, domain: null } },
    ],
    operators: {
      kind_is: [['bob@acme-industrial.com', 'business', true], ['ann@gmail.com', 'business', false], ['ann@gmail.com', 'free', true], ['x@mailinator.com', 'disposable', true], [null, 'free', false]],
    },
  })
})

t.test('a configured free-mail score is proposed too', async (t) => {
  await runScoringConformance(t, emailDomain, {
    config: { freePoints: 2 },
    inputs: [{ name: 'a free-mail address', input: input('ann@gmail.com'), expectRules: ['free_mail'] }],
  })
})

const SOURCE = `known events page_view, demo_request
rule "Visit" when event.type == "page_view" then +1 engagement "Visited"
rule "Business demo" when event.type == "demo_request" and plugin.email_domain.kind == "business" then +20 intent "Business lead asked for a demo"
`

async function send (app: Awaited<ReturnType<typeof buildTestApp>>['app'], method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) {
  const res = await app.inject({ method, url, headers: { ...AUTH, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) })
  return { status: res.statusCode, body: res.json<Json>() }
}

async function ledger (app: Awaited<ReturnType<typeof buildTestApp>>['app'], leadId: string): Promise<Json[]> {
  const r = await send(app, 'GET', `/v1/leads/${leadId}/history?order=asc`)
  return r.body.items as Json[]
}

t.test('installed by package name, its points and reasons are in the ledger', { timeout: 180_000 }, async (t) => {
  const { app, db } = await buildTestApp(t, { LEADSCORE_PLUGINS: '@leadscore/plugin-example-email-domain' })
  const catalog = await send(app, 'GET', '/v1/rulesets/catalog')
  t.match(catalog.body.facts['plugin.email_domain.kind'], { type: 'string' }, 'the rules editor is offered the plugin fact')

  const typo = await send(app, 'POST', '/v1/rulesets/validate', { source: SOURCE.replace('email_domain.kind', 'email_domain.kin') })
  t.match(JSON.stringify(typo.body), /Unknown fact 'plugin\.email_domain\.kin'\. Did you mean 'plugin\.email_domain\.kind'\?/, 'a misspelt plugin fact is a diagnostic')
  const draft = await send(app, 'POST', '/v1/rulesets', { source: SOURCE })
  t.equal(draft.status, 201, JSON.stringify(draft.body))
  const pub = await send(app, 'POST', `/v1/rulesets/${draft.body.version as number}/publish`, {})
  t.equal(pub.status, 200, JSON.stringify(pub.body))

  const at = (m: number): string => new Date(Date.UTC(2026, 2, 1, 10, m)).toISOString()
  const res = await postEvents(app, { events: [
    { externalId: 'e1', lead: { email: 'ann@gmail.com' }, type: 'page_view', occurredAt: at(0) },
    { externalId: 'e2', lead: { email: 'bob@acme-industrial.com' }, type: 'page_view', occurredAt: at(1) },
    { externalId: 'e3', lead: { email: 'bob@acme-industrial.com' }, type: 'demo_request', occurredAt: at(2) },
    { externalId: 'e4', lead: { email: 'cat@mailinator.com' }, type: 'page_view', occurredAt: at(3) },
    { externalId: 'e5', lead: { email: 'ann@gmail.com' }, type: 'demo_request', occurredAt: at(4) },
  ] })
  t.equal(res.statusCode, 202, res.body)
  const ids = (res.json<Json>().results as Json[]).map((r) => r.leadId as string)
  await waitForScoring(db)

  const reasons = (entries: Json[]): Array<[string, number, string]> => entries.flatMap((e) => (e.reasons as Json[]).map((r) => [r.ruleId, r.points, r.note] as [string, number, string]))
  const bob = await ledger(app, ids[1]!)
  t.same(reasons(bob), [
    ['visit', 1, 'Visited'],
    ['email_domain.business', 10, 'Business email domain (acme-industrial.com)'],
    ['business-demo', 20, 'Business lead asked for a demo'],
  ], 'business: fit points once (not again at the second event), and the rule reading the plugin fact fired')
  for (const e of bob) t.equal((e.reasons as Json[]).reduce((s, r) => s + (r.points as number), 0), e.delta.total ?? e.after.total - e.before.total, 'the reasons sum to the change')
  t.match((await send(app, 'GET', `/v1/leads/${ids[1]!}`)).body, { scores: { fit: 10, intent: 20, engagement: 1 } })

  const ann = await ledger(app, ids[0]!)
  t.same(reasons(ann), [['visit', 1, 'Visited']], 'free mail: no fit points by default, and the business-only rule did not fire')
  const cat = await ledger(app, ids[3]!)
  t.same(reasons(cat), [['visit', 1, 'Visited'], ['email_domain.disposable', -25, 'Disposable email address (mailinator.com)']], 'disposable: a penalty')
  t.match((await send(app, 'GET', `/v1/leads/${ids[3]!}`)).body, { scores: { fit: -25 } })

  // a rule stored as JSON can use the plugin's operator
  const active = await send(app, 'GET', '/v1/rulesets/active')
  const rules = [...active.body.rules as Json[], {
    name: 'free-mail-visit', priority: 1,
    conditions: { all: [{ fact: 'event', path: 'type', operator: 'equal', value: 'page_view' }, { fact: 'lead', path: 'email', operator: 'email_domain.kind_is', value: 'free' }] },
    event: { type: 'score', params: { ruleId: 'free-mail-visit', action: 'add', dimension: 'engagement', points: 3, reason: 'Free-mail lead visited' } },
  }]
  const put = await send(app, 'PUT', '/v1/rulesets/active', { rules, settings: active.body.settings })
  t.equal(put.status, 201, JSON.stringify(put.body))
  const unknownOp = await send(app, 'PUT', '/v1/rulesets/active', { rules: [{ ...rules[rules.length - 1], conditions: { all: [{ fact: 'lead', path: 'email', operator: 'email_domain.nope', value: 'free' }] } }] })
  t.match(unknownOp.body, { status: 400, code: 'LS_ERR_RULESET_INVALID', errors: [{ pointer: '#/rules/0/conditions/all/0/operator' }] }, 'an operator no installed plugin declares is refused')
  const more = await postEvents(app, { events: [
    { externalId: 'e6', lead: { email: 'ann@gmail.com' }, type: 'page_view', occurredAt: at(5) },
    { externalId: 'e7', lead: { email: 'bob@acme-industrial.com' }, type: 'page_view', occurredAt: at(6) },
  ] })
  t.equal(more.statusCode, 202)
  await waitForScoring(db)
  t.same(reasons(await ledger(app, ids[0]!)).slice(-2), [['free-mail-visit', 3, 'Free-mail lead visited'], ['visit', 1, 'Visited']], 'the plugin operator matched the free-mail lead')
  t.same(reasons(await ledger(app, ids[1]!)).slice(-1), [['visit', 1, 'Visited']], 'and not the business lead')
})
