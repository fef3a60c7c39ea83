// Golden fixtures: fixtures/rules/<name>.rules ↔ <name>.json (compiled output)
// and fixtures/rules/errors/<name>.rules ↔ <name>.diagnostics.json.
//
// Regenerate after an intentional change with:
//   LEADSCORE_UPDATE_GOLDENS=1 npx tap test/rules-dsl/golden.test.ts
// and review the diff.
import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  compile,
  compileSource,
  diagnose,
  diagnosticCodes,
  format,
  parse,
  type FactCatalog,
} from '../../rules-dsl/src/index.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const fixtures = join(root, 'fixtures/rules')
const errorsDir = join(fixtures, 'errors')
const catalog = JSON.parse(readFileSync(join(fixtures, 'catalog.json'), 'utf8')) as FactCatalog
const update = process.env['LEADSCORE_UPDATE_GOLDENS'] === '1'

const toJson = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

function golden (t: Test, file: string, actual: string): void {
  if (update) writeFileSync(file, actual)
  const name = file.slice(root.length + 1)
  t.ok(existsSync(file), `${name} exists`)
  if (!existsSync(file)) return
  t.equal(actual, readFileSync(file, 'utf8'), `matches ${name}`)
}

const ruleFiles = readdirSync(fixtures)
  .filter((f) => f.endsWith('.rules'))
  .sort()

t.test('compiled fixtures', async (t) => {
  t.ok(ruleFiles.length >= 8, 'at least 8 compiled fixtures')
  for (const file of ruleFiles) {
    t.test(file, async (t) => {
      const text = readFileSync(join(fixtures, file), 'utf8')
      const result = compileSource(text, catalog)
      const errors = result.diagnostics.filter((d) => d.severity === 'error')
      t.same(errors, [], 'no errors')
      t.ok(result.ruleset, 'compiles')
      golden(t, join(fixtures, file.replace(/\.rules$/, '.json')), toJson(result.ruleset))

      // Formatting does not change the meaning.
      const formatted = format(text)
      const again = compileSource(formatted, catalog)
      t.same(again.ruleset, result.ruleset, 'formatted source compiles to the same output')
      t.equal(format(formatted), formatted, 'format is idempotent')

      // compile(parse(text).ast) equals the convenience API.
      t.same(compile(parse(text).ast), result.ruleset, 'compile(parse(text)) agrees')
    })
  }
})

t.test('every .json fixture has a .rules source', async (t) => {
  for (const f of readdirSync(fixtures).filter((f) => f.endsWith('.json') && f !== 'catalog.json')) {
    t.ok(existsSync(join(fixtures, f.replace(/\.json$/, '.rules'))), `${f} has a source`)
  }
})

t.test('the default rule set', async (t) => {
  const result = compileSource(readFileSync(join(fixtures, 'default.rules'), 'utf8'), catalog)
  const ruleset = result.ruleset
  if (!ruleset) throw new Error('default.rules does not compile')
  t.same(result.diagnostics, [], 'no diagnostics at all')
  const expected: Array<[id: string, type: string, action: string, points?: number]> = [
    ['email-open', 'email_open', 'add', 10],
    ['page-view', 'page_view', 'add', 5],
    ['form-submit', 'form_submit', 'add', 20],
    ['demo-request', 'demo_request', 'add', 50],
    ['purchase', 'purchase', 'add', 100],
    ['email-bounced', 'email_bounced', 'add', -10],
    ['marked-spam', 'marked_spam', 'add', -50],
    ['unsubscribed', 'unsubscribed', 'reset'],
  ]
  t.same(
    ruleset.rules.map((r) => r.name),
    expected.map((e) => e[0]),
    'rule ids',
  )
  for (const [id, type, action, points] of expected) {
    const rule = ruleset.rules.find((r) => r.name === id)
    t.same(rule?.conditions, { all: [{ fact: 'event', path: 'type', operator: 'equal', value: type }] }, `${id} condition`)
    t.equal(rule?.event.params.action, action, `${id} action`)
    if (points !== undefined) {
      t.equal(rule?.event.params.points, points, `${id} points`)
      t.equal(rule?.event.params.dimension, 'engagement', `${id} dimension`)
    }
  }
  t.same(ruleset.settings, {
    caps: { total: 1000 },
    floors: { total: 0 },
    eventTypes: { known: expected.map((e) => e[1]) },
  })
})

const errorFiles = readdirSync(errorsDir)
  .filter((f) => f.endsWith('.rules'))
  .sort()

t.test('diagnostic fixtures', async (t) => {
  const seen = new Set<string>()
  for (const file of errorFiles) {
    t.test(file, async (t) => {
      const text = readFileSync(join(errorsDir, file), 'utf8')
      const diagnostics = diagnose(text, catalog)
      t.ok(diagnostics.length > 0, 'reports something')
      for (const d of diagnostics) {
        seen.add(d.code)
        t.equal(d.severity, diagnosticCodes[d.code].severity, `${d.code} has its documented severity`)
        t.ok(d.range.start.line >= 1 && d.range.start.column >= 1, 'positions are 1-based')
      }
      const expectedCode = /^dsl(\d{3})-/.exec(file)?.[1]
      if (expectedCode) t.ok(diagnostics.some((d) => d.code === `DSL${expectedCode}`), `reports DSL${expectedCode}`)
      golden(t, join(errorsDir, file.replace(/\.rules$/, '.diagnostics.json')), toJson(diagnostics))
      if (diagnostics.some((d) => d.severity === 'error')) {
        t.equal(compileSource(text, catalog).ruleset, undefined, 'does not compile')
      }
    })
  }
  t.test('every diagnostic code is covered', async (t) => {
    for (const code of Object.keys(diagnosticCodes)) t.ok(seen.has(code), `${code} has a fixture`)
  })
})

t.test('every .diagnostics.json fixture has a .rules source', async (t) => {
  for (const f of readdirSync(errorsDir).filter((f) => f.endsWith('.diagnostics.json'))) {
    t.ok(existsSync(join(errorsDir, f.replace(/\.diagnostics\.json$/, '.rules'))), `${f} has a source`)
  }
})
