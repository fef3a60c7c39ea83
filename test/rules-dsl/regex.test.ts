// The regex screen: patterns are JavaScript syntax and run on RE2, so the checker reports what RE2 does not have
// (DSL055) and what is too large for it (DSL026), pointing at the construct inside the literal.
import t from 'tap'
import { diagnose, diagnosticCodes, limits, maxRegexRepeat, screenRegex, type FactCatalog } from '../../rules-dsl/src/index.js'

const catalog: FactCatalog = { 'event.properties.*': { type: 'any' }, 'event.type': { type: 'string' } }

/** Diagnostics of one rule whose pattern starts at column 45 of line `line` (after `line - 1` blank lines). */
function diagnoseRegex (literal: string, line = 1): ReturnType<typeof diagnose> {
  return diagnose(`${'\n'.repeat(line - 1)}rule "bad" when event.properties.x matches ${literal} then +1\n`, catalog)
}

t.test('the codes are in the catalogue', async (t) => {
  t.same(diagnosticCodes.DSL055, { severity: 'error', title: 'Regular expression feature not supported', phases: ['check'] })
  t.same(diagnosticCodes.DSL026, { severity: 'error', title: 'Regular expression too large', phases: ['check'] })
})

t.test('features RE2 does not have are reported with the range of the construct', async (t) => {
  const cases: Array<[string, string, number, number, RegExp]> = [
    // literal, construct, start column, end column (exclusive), message
    ['/(a)\\1/', '\\1', 48, 50, /backreference.*RE2/],
    ['/(?<n>a)\\k<n>/', '\\k<n>', 52, 57, /backreference/],
    ['/x(?=y)/', '(?=', 46, 49, /lookahead/],
    ['/x(?!y)/', '(?!', 46, 49, /lookahead/],
    ['/(?<=x)y/', '(?<=', 45, 49, /lookbehind/],
    ['/(?<!x)y/i', '(?<!', 45, 49, /lookbehind/],
    ['/^\\Ahead/', '\\A', 46, 48, /use \^/],
    ['/tail\\z/', '\\z', 49, 51, /use \$/],
    ['/\\Qa.b\\E/', '\\Q', 45, 47, /not a supported escape/],
    ['/\\pL/', '\\p', 45, 47, /u flag/],
    ['/a\\cJ/', '\\cJ', 46, 49, /\\x0A/],
    ['/[\\b]/', '\\b', 46, 48, /backspace.*\\x08/],
    ['/[^]/', '[^]', 45, 48, /any character/],
    ['/x[]/', '[]', 46, 48, /matches nothing/],
    ['/[[:alpha:]]/', '[:alpha:]', 46, 55, /POSIX/],
    ['/\\uD83D/', '\\uD83D', 45, 51, /surrogate/],
    ['/\\é/', '\\é', 45, 47, /without the backslash/],
  ]
  for (const [literal, construct, start, end, message] of cases) {
    const ds = diagnoseRegex(literal, 3)
    t.equal(ds.length, 1, `${literal}: one diagnostic (${JSON.stringify(ds)})`)
    const d = ds[0]
    t.equal(d?.code, 'DSL055', literal)
    t.equal(d?.severity, 'error', literal)
    t.same(d?.range, { start: { line: 3, column: start }, end: { line: 3, column: end } }, `${literal}: points at ${construct}`)
    t.match(d?.message, message, literal)
  }
})

t.test('what both engines read the same way passes', async (t) => {
  const fine: Array<[string, string]> = [
    ['^\\/docs\\/(api|sdk)(\\/|$)', 'i'], ['(?<section>[a-z]+)-\\d{2,4}', ''], ['\\bfoo\\B', 'm'], ['a.b', 's'],
    ['\\x41\\u0042\\uD83D\\uDE00', ''], ['\\u{1F600}+', 'u'], ['\\p{L}\\P{Lu}', 'u'], ['[\\d\\w\\s\\-\\]]', ''], ['[^\\n\\r]', ''],
    ['\\0\\t\\v\\f', ''], ['a{,3}', ''], ['{}', ''], ['\\/\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$', ''], ['(?:a|b)*?c', ''],
    // RE2 matches these in linear time: the old exponential-time screen no longer applies
    ['(a+)+$', ''], ['(\\w*\\s?)*x', ''], ['a*a*a*b', ''], ['(?:\\w\\w?)+$', ''], ['(a|aa)+', ''],
  ]
  for (const [pattern, flags] of fine) {
    t.equal(screenRegex(pattern, flags), undefined, `/${pattern}/${flags}`)
    t.same(diagnoseRegex(`/${pattern}/${flags}`), [], `/${pattern}/${flags}: no diagnostics`)
  }
})

t.test('repetition counts: at most 1000, and nested counts multiply', async (t) => {
  t.equal(maxRegexRepeat, 1000)
  const ok = ['x{1000}', 'x{0,1000}', 'x{1000,}', '(a{2}){500}', '((a{10}){10}){10}', '(a{10}|b{100}){10}', '(a{10})+', '(?:a{1000})*', 'a{1000}b{1000}', '(a{5}){0}']
  for (const p of ok) t.equal(screenRegex(p, ''), undefined, `${p} is within RE2's limit`)
  const tooMany: Array<[string, string]> = [
    ['x{1001}', '{1001}'], ['x{0,1001}', '{0,1001}'], ['x{1001,}', '{1001,}'], ['(a{2}){501}', '{501}'], ['(a{2,}){501}', '{501}'],
    ['((a{10}){10}){11}', '{11}'], ['(a{10}|b{101}){10}', '{10}'], ['(?:(?:x{3})+){334}', '{334}'],
  ]
  for (const [p, quantifier] of tooMany) {
    const f = screenRegex(p, '')
    t.equal(f?.code, 'DSL026', `${p} is too large`)
    t.equal(f === undefined ? undefined : p.slice(f.start, f.end), quantifier, `${p}: points at ${quantifier}`)
  }
  const [d] = diagnoseRegex('/ab{2000}/')
  t.same(d?.range, { start: { line: 1, column: 47 }, end: { line: 1, column: 53 } })
  t.match(d?.message, /at most 1000/)
  const long = diagnoseRegex(`/${'a'.repeat(limits.maxPatternLength + 1)}/`)
  t.same(long.map((x) => x.code), ['DSL026'], 'an overlong pattern')
  t.match(long[0]?.message, /longer than 500 characters/)
})

t.test('syntax errors and flags are still DSL025, checked before the screen', async (t) => {
  t.same(diagnoseRegex('/(a)\\1(/').map((d) => d.code), ['DSL025'])
  t.same(diagnoseRegex('/x(?=y)/g').map((d) => d.code), ['DSL025'])
  t.same(diagnoseRegex('/a/ii').map((d) => d.code), ['DSL025'])
  // with the u flag an unknown letter escape is a JavaScript syntax error, not a screen finding
  t.same(diagnoseRegex('/\\z/u').map((d) => d.code), ['DSL025'])
})

t.test('the first problem is reported, and only the u flag changes the screen', async (t) => {
  t.equal(screenRegex('(?=a)\\1', '')?.message.includes('lookahead'), true, 'the leftmost construct')
  t.equal(screenRegex('\\p{L}', 'u'), undefined)
  t.equal(screenRegex('\\p{L}', 'imsu'), undefined)
  t.equal(screenRegex('\\p{L}', 'i')?.code, 'DSL055')
  t.equal(screenRegex('\\u{41}', '')?.code, 'DSL055', 'without u, \\u{41} is the letter u repeated 41 times in JavaScript')
  t.equal(screenRegex('\\u{1001}', 'u'), undefined, 'a code point escape is not a repetition count')
})
