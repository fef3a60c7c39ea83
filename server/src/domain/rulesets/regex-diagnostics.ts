// Diagnostics, in the rules language's own format, for regex literals that RE2 cannot compile although the language's
// checks passed them (for instance a Unicode property RE2 does not know): the author sees where, not only which rule.
import { parse, type Diagnostic, type ExpressionAst } from '@leadscore/rules-dsl'
import { compileRuleRegex } from './rule-regex.js'

function * regexLiterals (e: ExpressionAst): Generator<{ pattern: string; flags: string; range: Diagnostic['range'] }> {
  switch (e.kind) {
    case 'and': case 'or':
      for (const x of e.operands) yield * regexLiterals(x)
      return
    case 'not':
      yield * regexLiterals(e.operand)
      return
    case 'comparison':
      if (e.value?.kind === 'regex') yield e.value
  }
}

/** A DSL025 error for each regex literal in `source` that RE2 refuses; call it on source that compiled. */
export function re2Diagnostics (source: string): Diagnostic[] {
  const out: Diagnostic[] = []
  for (const statement of parse(source).ast.statements) {
    if (statement.kind !== 'rule' || statement.condition === undefined) continue
    for (const { pattern, flags, range } of regexLiterals(statement.condition)) {
      const compiled = compileRuleRegex(pattern, flags)
      if (!compiled.ok) {
        out.push({ code: 'DSL025', severity: 'error', message: `Invalid regular expression /${pattern}/${flags}: RE2 cannot run it (${compiled.reason}).`, range })
      }
    }
  }
  return out
}
