// The formatter and the printer.
import t from 'tap'
import fc from 'fast-check'
import { compile, format, parse, print, type RulesetAst } from '../../rules-dsl/src/index.js'
import { ruleset, Z } from './fixtures/arbitraries.js'

const errorsOf = (text: string) => parse(text).diagnostics.filter((d) => d.severity === 'error')

t.test('canonical layout', async (t) => {
  const input = [
    '  cap   total 1000',
    'floor total 0',
    'rule "A" priority 05 when event.type=="x" and(lead.company exists) then +5 engagement once per 030d "Note"',
    'rule "B" when not not event.type == "y" then set intent to 100',
  ].join('\n')
  t.equal(
    format(input),
    [
      'cap total 1000',
      'floor total 0',
      '',
      'rule "A" priority 5',
      '  when event.type == "x" and lead.company exists',
      '  then +5 engagement once per 30d "Note"',
      '',
      'rule "B"',
      '  when not not (event.type == "y")',
      '  then set intent 100',
      '',
    ].join('\n'),
  )
})

t.test('parentheses are kept only where needed', async (t) => {
  const out = format(
    'rule "P" when ((a.b == 1 and (a.c == 2 and a.d == 3))) or (a.e == 4 or a.f == 5) and not (a.g == 6 or a.h == 7) then +1',
  )
  // `and` inside `or` is always parenthesised for readability; this line is long, so it wraps.
  t.equal(
    out,
    [
      'rule "P"',
      '  when (a.b == 1 and a.c == 2 and a.d == 3)',
      '    or ((a.e == 4 or a.f == 5) and not (a.g == 6 or a.h == 7))',
      '  then +1',
      '',
    ].join('\n'),
  )
  t.equal(format('rule "R" when a.b == 1 or a.c == 2 and a.d == 3 then +1'), 'rule "R"\n  when a.b == 1 or (a.c == 2 and a.d == 3)\n  then +1\n')
  t.equal(
    format('rule "Q" when (a.b == 1 or a.c == 2) and a.d == 3 then +1'),
    'rule "Q"\n  when (a.b == 1 or a.c == 2) and a.d == 3\n  then +1\n',
  )
})

t.test('comments are preserved', async (t) => {
  const input = [
    '# header',
    '',
    '',
    '# about the cap',
    'cap total 1000 # trailing',
    'rule "A" # inside the rule',
    '  when event.type == "x"',
    '  then +1 # after the action',
    '# between',
    'rule "B" when event.type == "y" then +2',
    '# the end',
  ].join('\n')
  const expected = [
    '# header',
    '',
    '# about the cap',
    'cap total 1000 # trailing',
    '',
    '# inside the rule',
    'rule "A"',
    '  when event.type == "x"',
    '  then +1 # after the action',
    '',
    '# between',
    'rule "B"',
    '  when event.type == "y"',
    '  then +2',
    '',
    '# the end',
    '',
  ].join('\n')
  t.equal(format(input), expected)
  t.equal(format(expected), expected, 'idempotent')
})

t.test('long lines are wrapped', async (t) => {
  const conditions = Array.from({ length: 6 }, (_, i) => `event.properties.field${i} == "value number ${i}"`)
  const out = format(`rule "Long" when ${conditions.join(' and ')} then +1`)
  t.equal(
    out,
    ['rule "Long"', `  when ${conditions[0]}`, ...conditions.slice(1).map((c) => `    and ${c}`), '  then +1', ''].join('\n'),
  )
  t.equal(format(out), out)
  const types = Array.from({ length: 20 }, (_, i) => `event_type_${i}`)
  const known = format(`known events ${types.join(', ')}`)
  t.ok(known.split('\n').every((line) => line.length <= 100), 'known events wrap at 100 columns')
  t.equal(format(known), known)
  t.same(compile(parse(known).ast).settings.eventTypes?.known, types)
})

t.test('strings and names are written canonically', async (t) => {
  t.equal(
    format('stage "Cold" at 0\nstage "Sales Ready" at 10\nstage "rule" at 20\nevent type "A" is "b"\nknown events "x", y'),
    'stage Cold at 0\nstage "Sales Ready" at 10\nstage "rule" at 20\nevent type A is b\nknown events x, y\n',
  )
  t.equal(
    format('rule "T\\u0041b\\/" when a.b == "\\u{9}\\u0001" then +1'),
    'rule "TAb/"\n  when a.b == "\\t\\u{1}"\n  then +1\n',
  )
  t.equal(format('rule "N" when a.b == 1.50 and a.c > -0.0 and a.d < 1e3 then -0'), 'rule "N"\n  when a.b == 1.5 and a.c > 0 and a.d < 1000\n  then +0\n')
})

t.test('source with syntax errors is returned unchanged', async (t) => {
  for (const text of ['rule "A" when then', 'cap total', '@@@', 'rule "A" when a.b == "x then +1']) {
    t.equal(format(text), text)
  }
})

t.test('edge cases', async (t) => {
  t.equal(format(''), '')
  t.equal(format('\n\n   \n'), '')
  t.equal(format('# only a comment'), '# only a comment\n')
  t.equal(format('cap total 1\r\nfloor total 0\r\n'), 'cap total 1\nfloor total 0\n', 'CRLF becomes LF')
  t.equal(format('\uFEFFcap total 1'), 'cap total 1\n', 'byte order mark is dropped')
})

t.test('print() of generated trees is canonical and re-parses', async (t) => {
  fc.assert(
    fc.property(ruleset, (ast) => {
      const printed = print(ast)
      const errors = errorsOf(printed)
      if (errors.length > 0) throw new Error(`printed text does not parse: ${JSON.stringify(errors[0])}\n${printed}`)
      const formatted = format(printed)
      if (formatted !== printed) throw new Error(`format(print(ast)) differs:\n${printed}\n---\n${formatted}`)
      return format(formatted) === formatted
    }),
    { numRuns: 400 },
  )
  t.pass('format(print(ast)) === print(ast) for generated trees')
})

t.test('format is idempotent on noisy layouts and keeps the meaning', async (t) => {
  const noisy = fc
    .tuple(ruleset, fc.array(fc.tuple(fc.nat(3), fc.boolean(), fc.nat(2), fc.string({ maxLength: 10 })), { maxLength: 200 }))
    .map(([ast, noise]) => {
      const lines = print(ast).split('\n')
      const out: string[] = []
      lines.forEach((line, i) => {
        const [indent, comment, blanks, text] = noise[i % Math.max(1, noise.length)] ?? [0, false, 0, '']
        const safe = text.replace(/[\r\n\u2028\u2029]/g, ' ')
        out.push(' '.repeat(indent) + line + (comment ? ` #${safe}` : ''))
        for (let b = 0; b < blanks; b++) out.push('')
      })
      return { ast, text: out.join('\n') }
    })
  fc.assert(
    fc.property(noisy, ({ ast, text }) => {
      if (errorsOf(text).length > 0) throw new Error(`noisy text does not parse:\n${text}`)
      const once = format(text)
      if (format(once) !== once) throw new Error(`not idempotent:\n${text}`)
      const reparsed = parse(once).ast
      return sameMeaning(reparsed, ast)
    }),
    { numRuns: 300 },
  )
  t.pass('idempotent, and formatting preserves compiled meaning')
})

/** Compares two trees by their compiled output when both compile, else by their canonical print. */
function sameMeaning (a: RulesetAst, b: RulesetAst): boolean {
  let ca: unknown
  let cb: unknown
  try {
    ca = compile(a)
    cb = compile(b)
  } catch {
    return print(stripRanges(a)) === print(stripRanges(b))
  }
  return JSON.stringify(ca) === JSON.stringify(cb)
}

/** A copy of the tree without comments and with placeholder ranges (so layout comes from the tree alone). */
function stripRanges (ast: RulesetAst): RulesetAst {
  const copy = JSON.parse(JSON.stringify(ast), (key, value: unknown) => (key === 'range' ? Z : value)) as RulesetAst
  return { ...copy, comments: [] }
}
