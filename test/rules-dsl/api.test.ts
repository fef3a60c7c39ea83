// Public API contract, editor support data, documentation coverage and purity.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  check,
  compile,
  compileSource,
  completionItems,
  diagnose,
  diagnosticCodes,
  format,
  keywords,
  languageConfiguration,
  languageId,
  limits,
  lookupFact,
  monarchLanguage,
  parse,
  print,
  screenRegex,
  slugify,
  type FactCatalog,
  type RulesetAst,
} from '../../rules-dsl/src/index.js'
import { Z } from './fixtures/arbitraries.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const catalog = JSON.parse(readFileSync(join(root, 'fixtures/rules/catalog.json'), 'utf8')) as FactCatalog
const codes = (list: Array<{ code: string }>) => list.map((d) => d.code)

t.test('API misuse throws TypeError', async (t) => {
  t.throws(() => parse(42 as unknown as string), TypeError)
  t.throws(() => diagnose(null as unknown as string, catalog), TypeError)
  t.throws(() => check({} as RulesetAst, catalog), TypeError)
  t.throws(() => check(parse('').ast, null as unknown as FactCatalog), TypeError)
  t.throws(() => check(parse('').ast, [] as unknown as FactCatalog), TypeError)
  t.throws(() => compile(undefined as unknown as RulesetAst), TypeError)
  t.throws(() => print({} as RulesetAst), TypeError)
  t.throws(() => format(1 as unknown as string), TypeError)
  t.throws(() => completionItems(null as unknown as FactCatalog, []), TypeError)
  t.throws(() => completionItems(catalog, [1] as unknown as string[]), TypeError)
})

t.test('compile refuses trees with errors', async (t) => {
  t.throws(() => compile(parse('rule "A" when then +1').ast), TypeError, 'syntax errors')
  t.throws(() => compile(parse('rule "A" when event.type == "x" then +1 limit 0').ast), TypeError, 'semantic errors')
  t.throws(() => compile(parse('stage A at 5\nstage B at 1').ast), TypeError, 'cross-statement errors')
  const incomplete: RulesetAst = {
    kind: 'ruleset',
    statements: [{ kind: 'rule', name: { kind: 'string', value: 'A', range: Z }, range: Z }],
    comments: [],
    range: Z,
  }
  t.throws(() => compile(incomplete), TypeError, 'incomplete rule')
  t.throws(() => print(incomplete), TypeError, 'incomplete rule cannot be printed')
  // Catalog errors are the caller's job: compile works without a catalog.
  t.ok(compile(parse('rule "A" when no.such.fact == 1 then +1').ast))
  const warnings = compileSource('known events a\nrule "A" when event.type == "b" then +1', catalog)
  t.ok(warnings.ruleset, 'warnings do not block compilation')
  t.same(codes(warnings.diagnostics), ['DSL049'])
  const failed = compileSource('rule "A" when event.typo == "b" then +1', catalog)
  t.equal(failed.ruleset, undefined)
  t.same(codes(failed.diagnostics), ['DSL040'])
})

t.test('diagnose is parse + check, ordered by position', async (t) => {
  const text = 'rule "B" when event.typo == "x" then +1 limit 0\nrule "A" when then\ncap totl 5'
  const { ast, diagnostics } = parse(text)
  const combined = [...diagnostics, ...check(ast, catalog)]
  const result = diagnose(text, catalog)
  t.same(new Set(result), new Set(combined))
  t.same(codes(result), ['DSL040', 'DSL021', 'DSL006', 'DSL009', 'DSL042'])
  for (let i = 1; i < result.length; i++) {
    const a = result[i - 1]!.range.start
    const b = result[i]!.range.start
    t.ok(a.line < b.line || (a.line === b.line && a.column <= b.column), 'sorted')
  }
})

t.test('positions are 1-based with exclusive ends', async (t) => {
  const [d] = diagnose('rule "A" when event.typo == "x" then +1', catalog)
  t.same(d?.range, { start: { line: 1, column: 15 }, end: { line: 1, column: 25 } })
  const [e] = diagnose('\n\n  cap nope 5', catalog)
  t.same(e?.range, { start: { line: 3, column: 7 }, end: { line: 3, column: 11 } })
  const [f] = diagnose('cap total 5\r\nrule "A" when event.typo == 1 then +1', catalog)
  t.same(f?.range.start, { line: 2, column: 15 }, 'CRLF counts as one line break')
})

t.test('all errors are collected in one pass', async (t) => {
  const text = [
    'rule "One" when event.type == then +1',
    'rule "Two" when event.type == "x" then',
    'cap total',
    'rule "Three" event.type == "x" then +1',
    'stage',
    'rule "Four" when (event.type == "x" then +1',
    'rule "Five" when event.type == "x" then +1',
  ].join('\n')
  const { ast, diagnostics } = parse(text)
  t.same(codes(diagnostics), ['DSL010', 'DSL009', 'DSL006', 'DSL007', 'DSL006', 'DSL006'])
  const names = ast.statements.flatMap((s) => (s.kind === 'rule' ? [s.name.value] : []))
  t.same(names, ['One', 'Two', 'Three', 'Four', 'Five'], 'recovery keeps every rule')
  const five = ast.statements.find((s) => s.kind === 'rule' && s.name.value === 'Five')
  t.ok(five?.kind === 'rule' && five.condition && five.action, 'the last rule is complete')
})

t.test('fact catalog lookups', async (t) => {
  const c: FactCatalog = {
    'event.properties.*': { type: 'any' },
    'event.properties.path': { type: 'string' },
    'event.properties.utm.*': { type: 'string' },
  }
  t.equal(lookupFact(c, 'event.properties.path')?.type, 'string', 'exact beats wildcard')
  t.equal(lookupFact(c, 'event.properties.utm.source')?.type, 'string', 'longest wildcard wins')
  t.equal(lookupFact(c, 'event.properties.a.b.c')?.type, 'any', 'wildcards match deep paths')
  t.equal(lookupFact(c, 'event.properties'), undefined, 'a wildcard does not match its prefix')
  t.equal(lookupFact(c, 'constructor'), undefined, 'inherited properties are ignored')
  t.same(codes(check(parse('rule "A" when event.properties.utm.x startsWith "a" then +1').ast, c)), [])
  t.same(codes(check(parse('rule "A" when event.properties.utm.x > 5 then +1').ast, c)), ['DSL041'])
  const suggestion = diagnose('rule "A" when event.propertys.path == "x" then +1', c)[0]?.message
  t.match(suggestion, /Did you mean 'event\.properties\.path'\?/)
})

t.test('compiled facts and paths', async (t) => {
  const ruleset = compile(
    parse(
      [
        'rule "E" when event.properties.path == "/" then +1',
        'rule "L" when lead.company == "Acme" then +1',
        'rule "S" when score.engagement > 1 then +1',
        'rule "P" when company_size.employees > 1 then +1',
        'rule "B" when event exists then +1',
      ].join('\n'),
    ).ast,
  )
  t.same(
    ruleset.rules.map((r) => ('all' in r.conditions ? r.conditions.all[0] : undefined)),
    [
      { fact: 'event', path: 'properties.path', operator: 'equal', value: '/' },
      { fact: 'lead', path: 'company', operator: 'equal', value: 'Acme' },
      { fact: 'score', path: 'engagement', operator: 'greaterThan', value: 1 },
      { fact: 'company_size.employees', operator: 'greaterThan', value: 1 },
      { fact: 'event', operator: 'exists', value: true },
    ],
  )
  const top = compile(parse('rule "O" when a.b == 1 or a.c == 2 then +1\nrule "N" when not a.b == 1 then +1').ast)
  t.same(top.rules[0]?.conditions, {
    any: [
      { fact: 'a.b', operator: 'equal', value: 1 },
      { fact: 'a.c', operator: 'equal', value: 2 },
    ],
  })
  t.same(top.rules[1]?.conditions, { not: { fact: 'a.b', operator: 'equal', value: 1 } })
  const json = JSON.stringify(ruleset)
  t.notMatch(json, /"\$/, 'no JSONPath anywhere')
})

t.test('slugify', async (t) => {
  t.equal(slugify('Pricing page'), 'pricing-page')
  t.equal(slugify('  Démo — Booked!! '), 'demo-booked')
  t.equal(slugify('ÅÄÖ åäö'), 'aao-aao')
  t.equal(slugify('!!!'), '')
  t.equal(slugify('a'.repeat(100)).length, 80)
})

t.test('regular expression screening (details in regex.test.ts)', async (t) => {
  for (const bad of ['(a)\\1', '(?<x>a)\\k<x>', 'a(?=b)', 'a(?!b)', '(?<=a)b', '(?<!a)b']) {
    t.equal(screenRegex(bad, '')?.code, 'DSL055', `${bad} uses a feature RE2 does not have`)
  }
  // RE2 runs these in linear time: nested quantifiers are no longer refused
  for (const ok of ['^/pricing', '(a+)+', '(a*)*', '(\\w+\\s?)*$', '(a|b+)*', 'a*a*a*b', '(?:\\w\\w?)+$', '(?<x>a)+']) {
    t.equal(screenRegex(ok, ''), undefined, `${ok} is accepted`)
  }
  t.equal(screenRegex('a'.repeat(limits.maxPatternLength + 1), '')?.code, 'DSL026', 'overlong patterns are rejected')
})

t.test('completion items', async (t) => {
  const items = completionItems(catalog, ['purchase', 'page_view', 'Demo "Booked"', 'page_view'])
  const byKind = (k: string) => items.filter((i) => i.kind === k)
  t.ok(byKind('keyword').some((i) => i.label === 'rule'))
  t.ok(byKind('operator').some((i) => i.label === 'startsWith'))
  t.ok(byKind('snippet').some((i) => i.insertText.includes('${1:')))
  const facts = byKind('fact')
  t.same(
    facts.map((f) => f.label),
    Object.keys(catalog)
      .sort()
      .map((k) => (k.endsWith('.*') ? k.slice(0, -1) : k)),
  )
  t.equal(facts.find((f) => f.label === 'event.properties.')?.detail, 'any (any sub-path)')
  t.equal(facts.find((f) => f.label === 'event.type')?.documentation, 'Normalized event type, e.g. `page_view`.')
  t.same(
    byKind('eventType').map((e) => e.insertText),
    ['"Demo \\"Booked\\""', '"page_view"', '"purchase"'],
  )
  for (const item of items) {
    t.ok(['keyword', 'fact', 'operator', 'eventType', 'snippet'].includes(item.kind))
    t.type(item.insertText, 'string')
  }
  t.same(completionItems(catalog, []), completionItems(catalog, []), 'deterministic')
})

t.test('language configuration', async (t) => {
  t.equal(languageId, 'leadrules')
  t.same(languageConfiguration.comments, { lineComment: '#' })
  t.ok(languageConfiguration.brackets.some(([o, c]) => o === '(' && c === ')'))
  t.ok(languageConfiguration.autoClosingPairs.some((p) => p.open === '"'))
  t.ok(languageConfiguration.wordPattern.test('event.properties.path'))
  t.equal(languageConfiguration.wordPattern.exec('x event.properties.path y')?.[0], 'x')
})

// --- a small Monarch interpreter, enough to exercise the grammar ---------------

type MonarchAction = string | { token?: string; next?: string; cases?: Record<string, string>; bracket?: string }
type MonarchRule = [RegExp, MonarchAction]
const grammar = monarchLanguage as unknown as Record<string, unknown> & {
  defaultToken: string
  tokenizer: Record<string, MonarchRule[]>
}

function expand (re: RegExp): RegExp {
  const source = re.source.replace(/@(\w+)/g, (m, name: string) => {
    const v = grammar[name]
    return v instanceof RegExp ? v.source : m
  })
  return new RegExp(`^(?:${source})`, re.flags)
}

function monarchTokens (text: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  let stack = ['root']
  for (const line of text.split('\n')) {
    let pos = 0
    let guard = 0
    while (pos < line.length) {
      if (++guard > 10_000) throw new Error('tokenizer loops')
      const state = stack[stack.length - 1] ?? 'root'
      const rules = grammar.tokenizer[state]
      if (!rules) throw new Error(`unknown state ${state}`)
      let matched = false
      for (const [re, action] of rules) {
        const m = expand(re).exec(line.slice(pos))
        if (!m) continue
        const text = m[0]
        let token: string
        let next: string | undefined
        if (typeof action === 'string') {
          token = action
        } else if (action.cases) {
          const key = Object.keys(action.cases).find((k) => {
            if (k === '@default') return false
            const list = grammar[k.slice(1)]
            return Array.isArray(list) && list.includes(text)
          })
          token = action.cases[key ?? '@default'] ?? ''
        } else {
          token = action.token ?? ''
          next = action.next
        }
        if (token === '@brackets') token = 'delimiter.bracket'
        if (token !== '@rematch') {
          if (text.length === 0 && next === undefined) continue
          out.push([text, token])
          pos += text.length
        }
        if (next === '@pop') stack.pop()
        else if (next === '@popall') stack = ['root']
        else if (next !== undefined) stack.push(next.slice(1))
        if (stack.length === 0) stack = ['root']
        matched = true
        break
      }
      if (!matched) {
        out.push([line[pos] ?? '', grammar.defaultToken])
        pos++
      }
    }
  }
  return out.filter(([, tok]) => tok !== 'white')
}

t.test('monarch grammar', async (t) => {
  for (const [state, rules] of Object.entries(grammar.tokenizer)) {
    for (const [re, action] of rules) {
      t.doesNotThrow(() => expand(re), `${state}: ${re.source} compiles`)
      if (typeof action === 'object' && action.next && !['@pop', '@popall'].includes(action.next)) {
        t.ok(grammar.tokenizer[action.next.slice(1)], `state ${action.next} exists`)
      }
    }
  }
  t.same(monarchTokens('rule "Pricing" priority 5'), [
    ['rule', 'keyword'],
    ['"', 'string.quote'],
    ['Pricing', 'string'],
    ['"', 'string.quote'],
    ['priority', 'keyword'],
    ['5', 'number'],
  ])
  t.same(monarchTokens('  when event.type == "a\\n" and lead.tags not contains "x"'), [
    ['when', 'keyword'],
    ['event.type', 'variable'],
    ['==', 'operator'],
    ['"', 'string.quote'],
    ['a', 'string'],
    ['\\n', 'string.escape'],
    ['"', 'string.quote'],
    ['and', 'keyword'],
    ['lead.tags', 'variable'],
    ['not', 'keyword'],
    ['contains', 'keyword.operator'],
    ['"', 'string.quote'],
    ['x', 'string'],
    ['"', 'string.quote'],
  ])
  t.same(monarchTokens('then +25 engagement limit 3 per 30d x1.5 after 3 # note'), [
    ['then', 'keyword'],
    ['+', 'operator'],
    ['25', 'number'],
    ['engagement', 'type'],
    ['limit', 'keyword'],
    ['3', 'number'],
    ['per', 'keyword'],
    ['30d', 'number.duration'],
    ['x1.5', 'keyword'],
    ['after', 'keyword'],
    ['3', 'number'],
    ['# note', 'comment'],
  ])
  t.same(monarchTokens('a.b matches /^\\/x[/]y/i or a.c matches /open'), [
    ['a.b', 'variable'],
    ['matches', 'keyword.operator'],
    ['/', 'regexp'],
    ['^', 'regexp'],
    ['\\/', 'regexp.escape'],
    ['x', 'regexp'],
    ['[/]', 'regexp'],
    ['y', 'regexp'],
    ['/i', 'regexp'],
    ['or', 'keyword'],
    ['a.c', 'variable'],
    ['matches', 'keyword.operator'],
    ['/', 'regexp'],
    ['open', 'regexp.invalid'],
  ])
  t.same(monarchTokens('decay engagement 5% every 30d'), [
    ['decay', 'keyword'],
    ['engagement', 'type'],
    ['5%', 'number.percent'],
    ['every', 'keyword'],
    ['30d', 'number.duration'],
  ])
  t.same(monarchTokens('"open\ncap'), [
    ['"', 'string.quote'],
    ['open', 'string.invalid'],
    ['cap', 'keyword'],
  ])
  t.ok(monarchTokens('@').some(([, tok]) => tok === 'invalid'), 'unknown characters are invalid')

  // Every valid fixture highlights without invalid tokens.
  const dir = join(root, 'fixtures/rules')
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.rules'))) {
    const invalid = monarchTokens(readFileSync(join(dir, file), 'utf8')).filter(([, tok]) => tok.includes('invalid'))
    t.same(invalid, [], `${file} has no invalid tokens`)
  }
  // Every keyword is highlighted as a keyword of some kind.
  for (const k of keywords) {
    const [tok] = monarchTokens(k)
    t.ok(tok && ['keyword', 'keyword.operator', 'type'].includes(tok[1]), `${k} is highlighted`)
  }
})

// --- documentation ---------------------------------------------------------------

t.test('README documents every diagnostic code with an example', async (t) => {
  const readme = readFileSync(join(root, 'rules-dsl/README.md'), 'utf8')
  for (const [code, info] of Object.entries(diagnosticCodes)) {
    const section = readme.split(/\n(?=#{2,4} )/).find((s) => s.startsWith(`### ${code}`))
    t.ok(section, `${code} has a section`)
    if (!section) continue
    t.match(section, info.title, `${code} section names its title`)
    const example = /```(?:leadrules)?\n([\s\S]*?)```/.exec(section)?.[1]
    t.ok(example, `${code} has an example`)
    if (example === undefined || code === 'DSL013' || code === 'DSL014') continue
    // Examples reproduce their code (large-input codes are described instead).
    if (code === 'DSL011' || code === 'DSL012') continue
    t.ok(codes(diagnose(example, catalog)).includes(code), `${code} example triggers ${code}`)
  }
})

t.test('docs/dsl.md covers every construct', async (t) => {
  const doc = readFileSync(join(root, 'docs/dsl.md'), 'utf8')
  for (const word of [...keywords, '==', '!=', '<=', '>=', 'includesText', 'doesNotContain', 'notIn', 'x2 after 3']) {
    t.ok(doc.includes(word), `mentions ${word}`)
  }
  // Every fenced DSL example in the guide parses (examples of errors are marked `leadrules-error`).
  const blocks = [...doc.matchAll(/```leadrules\n([\s\S]*?)```/g)].map((m) => m[1] ?? '')
  t.ok(blocks.length > 10, 'has examples')
  for (const block of blocks) {
    t.same(
      parse(block).diagnostics.filter((d) => d.severity === 'error'),
      [],
      `example parses: ${block.split('\n')[0]}`,
    )
  }
})

// --- purity ------------------------------------------------------------------------

t.test('the library is pure', async (t) => {
  const src = join(root, 'rules-dsl/src')
  for (const file of readdirSync(src).filter((f) => f.endsWith('.ts'))) {
    const code = readFileSync(join(src, file), 'utf8')
    for (const m of code.matchAll(/^\s*(import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      const [statement, , spec] = m
      if (spec?.startsWith('./')) {
        t.ok(spec.endsWith('.js'), `${file}: relative import ${spec} uses .js`)
      } else {
        t.equal(spec, 'json-rules-engine', `${file}: only json-rules-engine may be imported`)
        t.match(statement, /import type/, `${file}: json-rules-engine is imported as a type only`)
      }
    }
    const stripped = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
    for (const banned of [/\bprocess\./, /\brequire\(/, /\bDate\b/, /Math\.random/, /\bconsole\./, /\bfetch\(/, /\bglobalThis\b/, /\bwindow\./]) {
      t.notMatch(stripped, banned, `${file} does not use ${banned.source}`)
    }
  }
})
