/**
 * Iterative measurement of condition trees, safe on arbitrarily deep input.
 *
 * @module
 * @internal
 */

import type { ComparisonAst, ExpressionAst } from './ast.js'
import { limits } from './limits.js'

/** Result of {@link measureCondition}. */
export interface ConditionMeasure {
  /** True if the tree nests deeper than {@link limits.maxNesting}. */
  tooDeep: boolean
  /** Number of comparisons (counting stops a little past the limit). */
  comparisons: number
  /** The comparisons in source order (only collected when not too deep). */
  leaves: ComparisonAst[]
}

/**
 * Measures the nesting depth of a condition the way the parser counts it:
 * every `not` and every parenthesised group needed to print the tree adds a
 * level (a nested `and` inside `and`, or `or` inside `or`, is flattened and
 * adds nothing; a comparison directly under `not` is printed `not (…)` and
 * so adds one). Uses an explicit stack, so it never overflows.
 */
export function measureCondition (root: ExpressionAst): ConditionMeasure {
  const leaves: ComparisonAst[] = []
  let comparisons = 0
  const stack: Array<{ node: ExpressionAst; depth: number; parent: 'root' | 'and' | 'or' | 'not' }> = [
    { node: root, depth: 0, parent: 'root' },
  ]
  while (stack.length > 0) {
    const { node, depth, parent } = stack.pop() as (typeof stack)[number]
    switch (node.kind) {
      case 'comparison':
        // `not` applied to a comparison is printed (and counted) as `not (…)`.
        if (parent === 'not' && depth + 1 > limits.maxNesting) return { tooDeep: true, comparisons, leaves: [] }
        comparisons++
        leaves.push(node)
        if (comparisons > limits.maxConditions * 4 + 8) return { tooDeep: false, comparisons, leaves }
        break
      case 'not': {
        const d = depth + 1
        if (d > limits.maxNesting) return { tooDeep: true, comparisons, leaves: [] }
        stack.push({ node: node.operand, depth: d, parent: 'not' })
        break
      }
      case 'and':
      case 'or': {
        const d = parent === 'root' || parent === node.kind ? depth : depth + 1
        if (d > limits.maxNesting) return { tooDeep: true, comparisons, leaves: [] }
        for (let i = node.operands.length - 1; i >= 0; i--) {
          stack.push({ node: node.operands[i] as ExpressionAst, depth: d, parent: node.kind })
        }
        break
      }
      default:
        break
    }
  }
  return { tooDeep: false, comparisons, leaves }
}
