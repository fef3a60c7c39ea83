// Runs every compiled fixture through the real json-rules-engine to prove
// that the output is valid engine input and means what the DSL says.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Engine, type RuleProperties } from 'json-rules-engine'
import { compileSource, type CompiledRule, type FactCatalog, type RegexValue } from '../../rules-dsl/src/index.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const fixtures = join(root, 'fixtures/rules')
const catalog = JSON.parse(readFileSync(join(fixtures, 'catalog.json'), 'utf8')) as FactCatalog

/** Plain dot-path resolver: own properties only, never JSONPath. */
function pathResolver (value: object, path: string): unknown {
  let current: unknown = value
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object' || !Object.prototype.hasOwnProperty.call(current, segment)) {
      return undefined
    }
    current = (current as Record<string, unknown>)[segment]
  }
  return current
}

function makeEngine (rules: RuleProperties[]): Engine {
  const engine = new Engine(rules, { allowUndefinedFacts: true, pathResolver })
  engine.addOperator('startsWith', (a: unknown, b: unknown) => typeof a === 'string' && typeof b === 'string' && a.startsWith(b))
  engine.addOperator('endsWith', (a: unknown, b: unknown) => typeof a === 'string' && typeof b === 'string' && a.endsWith(b))
  engine.addOperator(
    'includesText',
    (a: unknown, b: unknown) =>
      typeof a === 'string' && typeof b === 'string' && a.toLowerCase().includes(b.toLowerCase()),
  )
  engine.addOperator(
    'matches',
    (a: unknown, b: RegexValue) => typeof a === 'string' && new RegExp(b.pattern, b.flags).test(a),
  )
  engine.addOperator('exists', (a: unknown, b: unknown) => (a !== undefined && a !== null) === b)
  return engine
}

async function fired (rules: CompiledRule[], facts: Record<string, unknown>): Promise<string[]> {
  const { events } = await makeEngine(rules).run(facts)
  return events.map((e) => String(e.params?.['ruleId'])).sort()
}

interface Case {
  name: string
  facts: Record<string, unknown>
  fires: string[]
}

const defaultTypes: Array<[string, string]> = [
  ['email_open', 'email-open'],
  ['page_view', 'page-view'],
  ['form_submit', 'form-submit'],
  ['demo_request', 'demo-request'],
  ['purchase', 'purchase'],
  ['email_bounced', 'email-bounced'],
  ['marked_spam', 'marked-spam'],
  ['unsubscribed', 'unsubscribed'],
]

const cases: Record<string, { cases: Case[]; neverFires?: string[] }> = {
  default: {
    cases: [
      ...defaultTypes.map(([type, id]) => ({ name: type, facts: { event: { type } }, fires: [id] })),
      { name: 'unknown type', facts: { event: { type: 'other' } }, fires: [] },
    ],
  },
  settings: {
    cases: [
      { name: 'page view', facts: { event: { type: 'page_view' } }, fires: ['any-page-view'] },
      { name: 'other', facts: { event: { type: 'purchase' } }, fires: [] },
    ],
  },
  operators: {
    cases: [
      {
        name: 'mostly matching',
        facts: {
          event: {
            type: 'page_view',
            source: 'web',
            occurredAt: '2025-03-01T10:00:00Z',
            properties: { duration: 3, path: '/docs/api/intro' },
          },
          lead: {
            email: 'ann@example.com',
            company: 'First Bank',
            tags: ['vip'],
            createdAt: '2025-02-01',
            attributes: { employees: 600, country: 'DE', industry: 'Finance', freemail: false },
          },
        },
        fires: [
          'equal',
          'not-equal',
          'greater-or-equal',
          'negative-number',
          'in-list',
          'not-in-list',
          'contains',
          'does-not-contain',
          'ends-with',
          'includes-text',
          'not-starts-with',
          'not-ends-with',
          'not-includes',
          'matches',
          'not-matches',
          'exists',
          'boolean',
          'date-after',
          'date-before',
        ],
      },
      {
        name: 'mostly not matching',
        facts: {
          event: {
            type: 'form_submit',
            source: 'import',
            occurredAt: '2025-07-01T00:00:00Z',
            properties: { duration: -2, path: '/blog/post' },
          },
          lead: {
            email: 'bob@gmail.com',
            company: 'Test Corp',
            tags: ['churned'],
            createdAt: '2024-12-31',
            attributes: { employees: 2, country: 'KP', freemail: true },
          },
        },
        fires: ['less-than', 'less-or-equal', 'numbers-in-list', 'not-ends-with', 'not-exists'],
      },
      {
        name: 'large company on the pricing page',
        facts: { event: { type: 'x', properties: { path: '/pricing/team' } }, lead: { attributes: { employees: 5000 } } },
        fires: [
          'not-equal',
          'greater-than',
          'greater-or-equal',
          'not-in-list',
          'starts-with',
          'not-starts-with',
          'not-ends-with',
          'not-includes',
          'not-matches',
          'not-exists',
        ],
      },
    ],
  },
  logic: {
    cases: [
      {
        name: 'pricing page visit',
        facts: {
          event: { type: 'page_view', properties: { path: '/pricing' } },
          lead: { email: 'a@b.com', company: 'Acme', tags: [], attributes: { employees: 200, freemail: false, country: 'DE' } },
          score: { fit: 20, engagement: 100 },
        },
        fires: [
          'and',
          'mixed',
          'precedence',
          'flattened',
          'negated-group',
          'negated-comparison',
          'double-negation',
          'nested',
        ],
      },
      {
        name: 'email open from a blocked country',
        facts: {
          event: { type: 'email_open' },
          lead: { email: 'x@uni.edu', attributes: { freemail: true, country: 'KP' } },
          score: { engagement: 10 },
        },
        fires: ['precedence'],
      },
      { name: 'type c', facts: { event: { type: 'c' }, lead: {} }, fires: ['flattened-or', 'negated-group', 'negated-comparison'] },
      { name: 'demo request', facts: { event: { type: 'demo_request' }, lead: {} }, fires: ['or', 'negated-group', 'negated-comparison'] },
    ],
  },
  actions: {
    cases: [
      {
        name: 'page view',
        facts: { event: { type: 'page_view' } },
        fires: [
          'plain-add',
          'add-to-fit',
          'add-to-intent',
          'within',
          'multiplier',
          'diminishing-returns',
          'spaced-multiplier',
          'reason',
          'high-priority',
          'low-priority',
          'everything',
          'minutes-and-weeks',
        ],
      },
      { name: 'bounce', facts: { event: { type: 'email_bounced' } }, fires: ['subtract'] },
      { name: 'purchase', facts: { event: { type: 'purchase' } }, fires: ['set', 'set-with-to', 'set-default-dimension'] },
      { name: 'spam', facts: { event: { type: 'marked_spam' } }, fires: ['set-negative'] },
      { name: 'unsubscribe', facts: { event: { type: 'unsubscribed' } }, fires: ['reset', 'reset-once'] },
      { name: 'demo', facts: { event: { type: 'demo_request' } }, fires: ['once', 'once-per-period'] },
      { name: 'email open', facts: { event: { type: 'email_open' } }, fires: ['limit', 'limit-per-period'] },
    ],
  },
  facts: {
    cases: [
      {
        name: 'everything present',
        facts: {
          event: {
            type: 'page_view',
            properties: { path: '/pricing', utm: { campaign: 'spring' }, 'utm-source': 'newsletter', items: [{ sku: 'PRO' }] },
          },
          lead: { company: 'Acme', attributes: { industry: 'Software', plan_tier: 'enterprise' } },
          score: { engagement: 150 },
          'company_size.employees': 800,
          'company_size.bucket': 'large',
        },
        fires: [
          'event-fact',
          'event-property',
          'deep-wildcard-property',
          'hyphenated-property',
          'array-index',
          'lead-field',
          'lead-attribute',
          'lead-wildcard-attribute',
          'score-fact',
          'plugin-fact',
          'plugin-fact-text',
        ],
      },
      { name: 'nothing present', facts: { event: { type: 'x' } }, fires: [] },
    ],
  },
  example: {
    cases: [
      {
        name: 'enterprise lead on the pricing page',
        facts: {
          event: { type: 'page_view', properties: { path: '/pricing/teams' } },
          lead: { attributes: { employees: 600, freemail: false } },
        },
        fires: ['enterprise', 'pricing-page', 'repeat-visits'],
      },
      { name: 'unsubscribe', facts: { event: { type: 'unsubscribed' } }, fires: ['unsubscribed'] },
      { name: 'spam', facts: { event: { type: 'marked_spam' } }, fires: ['spam'] },
      { name: 'purchase', facts: { event: { type: 'purchase' } }, fires: ['set-intent'] },
    ],
  },
  strings: {
    cases: [
      {
        name: 'escaped strings',
        facts: {
          event: {
            type: 'demo_request',
            properties: {
              title: 'Say "hi"',
              text: 'tab\there\nnew line \\ backslash / slash',
              emoji: '\u{1F600} é',
              anchor: '#pricing',
            },
          },
        },
        fires: ['demo-booked-eu', 'escapes', 'hash-inside-string', 'quotes', 'unicode-escapes'],
      },
      { name: 'page view', facts: { event: { type: 'page_view' } }, fires: ['camelcase-name-2', 'leading-and-trailing-spaces'] },
    ],
  },
  warnings: {
    cases: [
      { name: 'purchase', facts: { event: { type: 'purchase' } }, fires: ['reset-on-purchase', 'shadowed'] },
      { name: 'misspelt type', facts: { event: { type: 'pageview' } }, fires: ['unknown-event-type'] },
    ],
    neverFires: ['empty-list'],
  },
  empty: { cases: [{ name: 'anything', facts: { event: { type: 'page_view' } }, fires: [] }] },
  // fit rules are plain engine rules on lead facts: they fire on any event while the attributes match
  'recency-and-fit': {
    cases: [
      { name: 'page view', facts: { event: { type: 'page_view' }, lead: { attributes: {} } }, fires: ['pricing', 'still-an-event-rule'] },
      { name: 'email open', facts: { event: { type: 'email_open' }, lead: { attributes: { employees: 499 } } }, fires: ['old-history'] },
      {
        name: 'enterprise CEO on free mail',
        facts: { event: { type: 'form_submit' }, lead: { attributes: { employees: 500, role: 'CEO', freemail: true } } },
        fires: ['with-window', 'enterprise', 'ceo', 'freemail'],
      },
    ],
  },
}

const fixtureNames = readdirSync(fixtures)
  .filter((f) => f.endsWith('.rules'))
  .map((f) => f.replace(/\.rules$/, ''))
  .sort()

t.test('every fixture has engine cases', async (t) => {
  t.same(Object.keys(cases).sort(), fixtureNames)
})

for (const name of fixtureNames) {
  t.test(`${name}.rules in json-rules-engine`, async (t) => {
    const spec = cases[name]
    if (!spec) {
      t.fail(`no engine cases for ${name}`)
      return
    }
    const { ruleset } = compileSource(readFileSync(join(fixtures, `${name}.rules`), 'utf8'), catalog)
    if (!ruleset) throw new Error(`${name}.rules does not compile`)
    const seen = new Set<string>()
    for (const c of spec.cases) {
      const ids = await fired(ruleset.rules, c.facts)
      ids.forEach((id) => seen.add(id))
      t.same(ids, [...c.fires].sort(), c.name)
    }
    for (const rule of ruleset.rules) {
      if (spec.neverFires?.includes(rule.name)) {
        t.notOk(seen.has(rule.name), `${rule.name} never fires`)
      } else {
        t.ok(seen.has(rule.name), `${rule.name} fires in at least one case`)
      }
    }
  })
}

t.test('emitted events carry the compiled score params', async (t) => {
  const { ruleset } = compileSource(readFileSync(join(fixtures, 'actions.rules'), 'utf8'), catalog)
  if (!ruleset) throw new Error('actions.rules does not compile')
  const { events } = await makeEngine(ruleset.rules).run({ event: { type: 'page_view' } })
  const everything = events.find((e) => e.params?.['ruleId'] === 'everything')
  t.same(everything, {
    type: 'score',
    params: {
      ruleId: 'everything',
      action: 'add',
      dimension: 'engagement',
      points: 25,
      reason: 'Looked at pricing',
      limit: { count: 3, per: '30d' },
      multiplier: { factor: 1.5, after: 2 },
      within: '90d',
    },
  })
})

t.test('priorities order rule evaluation', async (t) => {
  const { ruleset } = compileSource(
    [
      'rule "Low" priority 1 when event.type == "a" then +1',
      'rule "High" priority 100 when event.type == "a" then +1',
      'rule "Middle" priority 50 when event.type == "a" then +1',
    ].join('\n'),
    catalog,
  )
  if (!ruleset) throw new Error('does not compile')
  const order: string[] = []
  const engine = makeEngine(ruleset.rules)
  engine.on('success', (event) => {
    order.push(String(event.params?.['ruleId']))
  })
  await engine.run({ event: { type: 'a' } })
  t.same(order, ['high', 'middle', 'low'])
})
