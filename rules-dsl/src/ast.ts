/**
 * The abstract syntax tree produced by {@link parse} and consumed by
 * {@link check}, {@link compile} and {@link print}.
 *
 * Every node carries the source {@link Range} it was parsed from. Hand-built
 * trees may use any range (for example all zeros); ranges only affect
 * diagnostic locations and where {@link print} places comments and blank lines.
 *
 * @module
 */

import type { Range } from './diagnostic.js'

/** A whole rule-set file. */
export interface RulesetAst {
  kind: 'ruleset'
  /** Settings and rules, in source order. */
  statements: StatementAst[]
  /** `#` comments, in source order. Used by the formatter. */
  comments: CommentAst[]
  /**
   * Number of syntax errors reported while parsing this tree. {@link compile}
   * refuses trees with syntax errors. Omit (or use 0) for hand-built trees.
   */
  syntaxErrors?: number
  range: Range
}

/** A `#` comment running to the end of its line. */
export interface CommentAst {
  kind: 'comment'
  /** The comment text including the leading `#`, without the line break. */
  text: string
  range: Range
}

/** Any top-level statement. */
export type StatementAst =
  | CapStatementAst
  | FloorStatementAst
  | DecayStatementAst
  | StageStatementAst
  | GradeStatementAst
  | IntentLabelStatementAst
  | EventAliasStatementAst
  | KnownEventsStatementAst
  | RuleAst

/** A bare word or quoted string used as a name (dimension, stage, event type…). */
export interface NameAst {
  kind: 'name'
  value: string
  range: Range
}

/** A numeric literal; `value` already includes any leading sign. */
export interface NumberAst {
  kind: 'number'
  value: number
  range: Range
}

/** A double-quoted string literal; `value` is the decoded text. */
export interface StringAst {
  kind: 'string'
  value: string
  range: Range
}

/** `true` or `false`. */
export interface BooleanAst {
  kind: 'boolean'
  value: boolean
  range: Range
}

/** A `[a, b, c]` list of scalar literals (only after `in` / `not in`). */
export interface ListAst {
  kind: 'list'
  items: ScalarLiteralAst[]
  range: Range
}

/** A `/pattern/flags` literal (only after `matches`). */
export interface RegexAst {
  kind: 'regex'
  /** Pattern source exactly as written between the slashes. */
  pattern: string
  flags: string
  range: Range
}

/** A duration such as `30d`. `text` is kept verbatim and validated by the checker. */
export interface DurationAst {
  kind: 'duration'
  text: string
  range: Range
}

/** Literals that can appear on their own or inside a list. */
export type ScalarLiteralAst = StringAst | NumberAst | BooleanAst

/** Any literal on the right-hand side of a comparison. */
export type LiteralAst = ScalarLiteralAst | ListAst | RegexAst

/** `cap <target> <n>` — maximum for the total score or one dimension. */
export interface CapStatementAst {
  kind: 'cap'
  target: NameAst
  value: NumberAst
  range: Range
}

/** `floor <target> <n>` — minimum for the total score or one dimension. */
export interface FloorStatementAst {
  kind: 'floor'
  target: NameAst
  value: NumberAst
  range: Range
}

/** `decay engagement 5% every 30d [after 14d inactivity] [curve exponential]`. */
export interface DecayStatementAst {
  kind: 'decay'
  dimension: NameAst
  percent: NumberAst
  every: DurationAst
  after?: DurationAst
  curve?: NameAst
  range: Range
}

/** `stage <name> at <n> [exit below <n>]`. */
export interface StageStatementAst {
  kind: 'stage'
  name: NameAst
  min: NumberAst
  exitBelow?: NumberAst
  range: Range
}

/** `grade <name> at <n>` — fit grades. */
export interface GradeStatementAst {
  kind: 'grade'
  name: NameAst
  min: NumberAst
  range: Range
}

/** `intent label <name> at <n>` — labels on the intent dimension. */
export interface IntentLabelStatementAst {
  kind: 'intentLabel'
  name: NameAst
  min: NumberAst
  range: Range
}

/** `event type "Demo Booked" is demo_request` — an event type alias. */
export interface EventAliasStatementAst {
  kind: 'eventAlias'
  from: NameAst
  to: NameAst
  range: Range
}

/** `known events a, b, c` — declares the event types rules may refer to. */
export interface KnownEventsStatementAst {
  kind: 'knownEvents'
  types: NameAst[]
  range: Range
}

/** `rule "Name" [priority n] when <condition> then <action>`. */
export interface RuleAst {
  kind: 'rule'
  /**
   * True for `fit rule`: the rule describes the lead's current attributes, so its points are held while it matches
   * and removed when it stops matching.
   */
  fit?: boolean
  name: StringAst
  priority?: NumberAst
  /** Missing when the condition could not be parsed. */
  condition?: ExpressionAst
  /** Missing when the action could not be parsed. */
  action?: ActionAst
  range: Range
}

/** A boolean condition. */
export type ExpressionAst = AndAst | OrAst | NotAst | ComparisonAst

/** `a and b and …` */
export interface AndAst {
  kind: 'and'
  operands: ExpressionAst[]
  range: Range
}

/** `a or b or …` */
export interface OrAst {
  kind: 'or'
  operands: ExpressionAst[]
  range: Range
}

/** `not a` */
export interface NotAst {
  kind: 'not'
  operand: ExpressionAst
  range: Range
}

/** Comparison operators as written in the DSL. */
export type ComparisonOperator =
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'in'
  | 'contains'
  | 'startsWith'
  | 'endsWith'
  | 'includes'
  | 'matches'
  /** `matches any <list>`: the text contains one of the list's entries as whole words, ignoring case. */
  | 'matchesAny'
  | 'exists'

/** A reference to a fact, e.g. `event.properties.path`. */
export interface FactRefAst {
  kind: 'fact'
  /** The dotted path exactly as written. */
  path: string
  range: Range
}

/** `fact <operator> value`, e.g. `event.type == "page_view"` or `lead.email exists`. */
export interface ComparisonAst {
  kind: 'comparison'
  fact: FactRefAst
  operator: ComparisonOperator
  /**
   * True for the `not` forms of word operators (`not in`, `not contains`,
   * `not exists`, `not startsWith`, …). Always false for symbolic operators.
   */
  negated: boolean
  /** Absent only for `exists`. */
  value?: ComparisonValueAst
  range: Range
}

/**
 * The right-hand side of a comparison: a literal, or (after `in` and `matches any`) a list fact such as
 * `offer.icp.industries`, whose value is read when the rule runs.
 */
export type ComparisonValueAst = LiteralAst | FactRefAst

/** What a rule does when it fires. */
export interface ActionAst {
  kind: 'add' | 'set' | 'reset'
  /** Signed points for `add`, the target value for `set`; absent for `reset`. */
  points?: NumberAst
  /** Dimension name; absent means the default (`engagement`). Unused by `reset`. */
  dimension?: NameAst
  limit?: LimitAst
  within?: DurationAst
  /** `weighted 100% within 7d, 50% within 30d, 0%`: points weighted by the event's age when it reached us. */
  recency?: RecencyAst
  multiplier?: MultiplierAst
  /** The quoted note, used as the score reason. */
  reason?: StringAst
  range: Range
}

/** `once [per d]` or `limit n [per d]`. */
export interface LimitAst {
  kind: 'limit'
  count: NumberAst
  per?: DurationAst
  range: Range
}

/**
 * `weighted 100% within 7d, 50% within 30d, 10%` — the first tier whose duration the event's age fits in gives the
 * weight; `otherwise` (the trailing bare percentage, 0% when absent) applies to older events.
 */
export interface RecencyAst {
  kind: 'recency'
  tiers: RecencyTierAst[]
  otherwise?: NumberAst
  range: Range
}

/** One `50% within 30d` tier. */
export interface RecencyTierAst {
  percent: NumberAst
  within: DurationAst
  range: Range
}

/** `x2 after 3` — from the 4th firing on, points are multiplied by 2. */
export interface MultiplierAst {
  kind: 'multiplier'
  factor: NumberAst
  after: NumberAst
  range: Range
}
