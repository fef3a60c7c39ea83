// The parser and checker must survive any input: random text, token soups,
// pathological sizes and prototype-pollution attempts.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  check,
  compile,
  compileSource,
  diagnose,
  format,
  limits,
  parse,
  print,
  type ExpressionAst,
  type FactCatalog,
  type RulesetAst,
} from '../../rules-dsl/src/index.js'
import { Z } from './fixtures/arbitraries.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const catalog = JSON.parse(readFileSync(join(root, 'fixtures/rules/catalog.json'), 'utf8')) as FactCatalog

/** Runs every text entry point; none may throw. */
function exercise (text: string): void {
  const { ast, diagnostics } = parse(text)
  check(ast, catalog)
  diagnose(text, catalog)
  compileSource(text, catalog)
  const formatted = format(text)
  if (format(formatted) !== formatted) throw new Error(`format is not idempotent for ${JSON.stringify(text)}`)
  if (!diagnostics.some((d) => d.severity === 'error')) {
    // Without syntax errors, compile either succeeds or throws TypeError (semantic errors).
    try {
      compile(ast)
    } catch (error) {
      if (!(error instanceof TypeError)) throw error
    }
  }
}

const tokens = [
  'rule', '"Name"', '"x', 'when', 'then', 'and', 'or', 'not', '(', ')', '[', ']', ',', '==', '!=', '<', '<=', '>',
  '>=', '=', '&&', 'in', 'contains', 'startsWith', 'endsWith', 'includes', 'matches', '/a+/i', '/(a+)+/', '/x',
  'exists', 'true', 'false', 'event.type', 'lead.attributes.employees', 'event.properties.path', '$.x', 'a..b',
  '__proto__', 'constructor', 'lead.__proto__.x', '1', '-5', '+25', '2.5', '1.2.3', '30d', '1y', '5%', 'x2',
  'after', 'once', 'limit', 'per', 'within', 'set', 'reset', 'to', 'engagement', 'fit', 'intent', 'total', 'cap',
  'floor', 'decay', 'every', 'inactivity', 'curve', 'linear', 'stage', 'at', 'exit', 'below', 'grade', 'label',
  'event', 'type', 'is', 'known', 'events', 'priority', '#', '# comment', '@', "'", '\\', '\u0000', '\u2028', '😀',
]
const soup = fc
  .array(fc.tuple(fc.constantFrom(...tokens), fc.constantFrom(' ', '\n', '', '  ', '\t', '\r\n')), { maxLength: 60 })
  .map((parts) => parts.map(([tok, sep]) => tok + sep).join(''))

t.test('never throws on random strings', async (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => exercise(s)), { numRuns: 500 })
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => exercise(s)), { numRuns: 500 })
  t.pass('ok')
})

t.test('never throws on token soups', async (t) => {
  fc.assert(fc.property(soup, (s) => exercise(s)), { numRuns: 2000 })
  t.pass('ok')
})

t.test('diagnostic ranges are well-formed', async (t) => {
  fc.assert(
    fc.property(soup, (text) => {
      const lines = text.split(/\r\n|\r|\n/)
      for (const d of diagnose(text, catalog)) {
        const { start, end } = d.range
        if (start.line < 1 || start.column < 1 || end.line < start.line) return false
        if (end.line === start.line && end.column < start.column) return false
        if (start.line > lines.length || end.line > lines.length) return false
        if (start.column > (lines[start.line - 1] ?? '').length + 1) return false
      }
      return true
    }),
    { numRuns: 1000 },
  )
  t.pass('ok')
})

/**
 * Generous time limit per operation: typical runs take well under a second;
 * the limit only has to catch super-linear behaviour (which takes minutes).
 */
const LIMIT_MS = 10_000

/** Asserts that `fn` finishes within `ms` milliseconds and returns its result. */
function timed<T> (t: Test, label: string, ms: number, fn: () => T): T {
  const start = performance.now()
  const result = fn()
  const elapsed = performance.now() - start
  t.ok(elapsed < ms, `${label} took ${Math.round(elapsed)} ms (limit ${ms} ms)`)
  return result
}

t.test('pathological input', async (t) => {
  t.test('1 MB of mixed garbage', async (t) => {
    const chunk = 'rule "A" when event.type == "x" and ((( @@@ "unterminated\n then +5 cap 1.2.3 $$$ [[[ ]]] \n'
    const text = chunk.repeat(Math.ceil(1_000_000 / chunk.length))
    t.ok(text.length >= 1_000_000)
    const diags = timed(t, 'diagnose', LIMIT_MS, () => diagnose(text, catalog))
    t.ok(diags.length > 0 && diags.length <= limits.maxDiagnostics, `bounded diagnostics (${diags.length})`)
    t.ok(diags.some((d) => d.code === 'DSL014'), 'reports truncation')
    timed(t, 'format', LIMIT_MS, () => format(text))
  })

  t.test('1 MB of valid rules', async (t) => {
    const rule = (i: number) => `rule "Rule ${i}" when event.type == "page_view" and lead.attributes.employees > ${i} then +1\n`
    let text = ''
    for (let i = 0; text.length < 1_000_000; i++) text += rule(i)
    const diags = timed(t, 'diagnose', LIMIT_MS, () => diagnose(text, catalog))
    t.same(
      diags.map((d) => d.code),
      ['DSL013'],
      'only the too-many-rules error',
    )
  })

  t.test('1 MB string literal and 1 MB comment', async (t) => {
    const big = 'x'.repeat(1_000_000)
    timed(t, 'string', LIMIT_MS, () => t.same(diagnose(`rule "A" when event.type == "${big}" then +1`, catalog), []))
    timed(t, 'comment', LIMIT_MS, () => t.same(diagnose(`# ${big}\ncap total 5`, catalog), []))
  })

  t.test('20,000 nested parentheses', async (t) => {
    const n = 20_000
    const text = `rule "Deep" when ${'('.repeat(n)}event.type == "x"${')'.repeat(n)} then +5`
    const diags = timed(t, 'diagnose', LIMIT_MS, () => diagnose(text, catalog))
    t.same(
      diags.map((d) => d.code),
      ['DSL011'],
    )
    t.equal(format(text), text, 'format leaves it unchanged')
  })

  t.test('20,000 nested nots and unclosed parentheses', async (t) => {
    for (const text of [
      `rule "Nots" when ${'not '.repeat(20_000)}event.type == "x" then +5`,
      `rule "Open" when ${'('.repeat(20_000)}`,
      `rule "Close" when event.type == "x"${')'.repeat(20_000)} then +5`,
      '('.repeat(1_000_000),
      '['.repeat(100_000),
    ]) {
      timed(t, `input of ${text.length} chars`, LIMIT_MS, () => exercise(text))
    }
  })

  t.test('100,000 conditions', async (t) => {
    const conditions = Array.from({ length: 100_000 }, (_, i) => `lead.attributes.employees > ${i}`).join(' and ')
    const text = `rule "Many" when ${conditions} then +1\nrule "After" when event.type == "x" then +1`
    const diags = timed(t, 'diagnose', LIMIT_MS, () => diagnose(text, catalog))
    t.same(
      diags.map((d) => d.code),
      ['DSL012'],
    )
    const unknown = conditions.replace(/lead\.attributes\.employees/g, 'mystery.fact')
    const diags2 = timed(t, 'diagnose with unknown facts', LIMIT_MS, () => diagnose(`rule "Many" when ${unknown.slice(0, 8000)} then +1`, catalog))
    t.ok(diags2.length <= limits.maxDiagnostics, 'bounded')
  })

  t.test('hand-built trees deeper than the stack', async (t) => {
    let expr: ExpressionAst = {
      kind: 'comparison',
      fact: { kind: 'fact', path: 'event.type', range: Z },
      operator: '==',
      negated: false,
      value: { kind: 'string', value: 'x', range: Z },
      range: Z,
    }
    for (let i = 0; i < 200_000; i++) {
      expr = i % 2 === 0 ? { kind: 'not', operand: expr, range: Z } : { kind: 'and', operands: [expr], range: Z }
    }
    const ast: RulesetAst = {
      kind: 'ruleset',
      statements: [
        { kind: 'rule', name: { kind: 'string', value: 'Deep', range: Z }, condition: expr, action: { kind: 'reset', range: Z }, range: Z },
      ],
      comments: [],
      range: Z,
    }
    t.same(
      check(ast, catalog).map((d) => d.code),
      ['DSL011'],
    )
    t.throws(() => compile(ast), TypeError)
    t.throws(() => print(ast), TypeError)
  })
})

t.test('prototype pollution attempts change nothing', async (t) => {
  const before = Object.getOwnPropertyNames(Object.prototype).sort()
  const inputs = [
    'rule "P" when event.properties.__proto__.polluted == true then +5',
    'rule "P" when lead.constructor.prototype.polluted == 1 then +5',
    'rule "__proto__" when event.type == "x" then +5',
    'rule "constructor" when event.type == "x" then +5 "__proto__"',
    'event type "__proto__" is polluted\nevent type "constructor" is polluted',
    'event type "toString" is page_view\nevent type "hasOwnProperty" is page_view\nknown events __proto__, page_view',
    'stage __proto__ at 1\ngrade constructor at 2\nintent label prototype at 3',
    'rule "T" when toString == 1 then +1\nrule "H" when hasOwnProperty.x == 1 then +1',
  ]
  const hostile = JSON.parse(
    '{"__proto__": {"type": "string", "polluted": true}, "constructor": {"type": "number"}, "event.type": {"type": "string"}, "toString": {"type": "number"}}',
  ) as FactCatalog
  for (const text of inputs) {
    for (const c of [catalog, hostile, {}]) {
      const result = compileSource(text, c)
      if (result.ruleset) {
        const aliases = result.ruleset.settings.eventTypes?.aliases
        if (aliases) t.equal(Object.getPrototypeOf(aliases), Object.prototype, 'aliases is a plain object')
        JSON.parse(JSON.stringify(result.ruleset))
      }
    }
    format(text)
  }
  const aliased = compileSource('event type "toString" is page_view', catalog).ruleset
  t.same(aliased?.settings.eventTypes?.aliases, { toString: 'page_view' }, 'inherited names are ordinary keys')
  t.ok(Object.prototype.hasOwnProperty.call(aliased?.settings.eventTypes?.aliases, 'toString'))

  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype.polluted not set')
  t.same(Object.getOwnPropertyNames(Object.prototype).sort(), before, 'Object.prototype unchanged')
  const diags = diagnose('rule "P" when event.properties.__proto__.polluted == true then +5', catalog)
  t.same(
    diags.map((d) => d.code),
    ['DSL050'],
    '__proto__ in a path is an error',
  )
  t.same(
    diagnose('rule "T" when toString == 1 then +1', catalog).map((d) => d.code),
    ['DSL040'],
    'inherited Object properties are not catalog entries',
  )
})
