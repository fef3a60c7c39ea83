// The conformance suite for scoring plugins (exported from `@leadscore/server/testing`). Scores are replayed from
// events, so a scoring plugin must be a pure function of its input: this checks that it is, with the server's own
// scoring model applying what it proposes.
import { createHook } from 'node:async_hooks'
import fs from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { isDeepStrictEqual } from 'node:util'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type { Contribution, PluginContext, PluginLogger, ScoringInput, ScoringPlugin } from '../contracts/index.js'
import { scoringVocabularyProblem } from '../contracts/index.js'
import { applyContributions, initialState } from '../domain/scoring/model.js'
import { validateScoringPlugin } from '../plugin-host/registry.js'
import type { ConformanceTest } from './index.js'

/** One input the plugin is run on, with what it should propose (optional). */
export interface ScoringFixture {
  name: string
  input: ScoringInput
  /** When given, the contributions' rule ids, in order (without the plugin id prefix). */
  expectRules?: string[]
  /** When given, the plugin's fact values for this input. */
  expectFacts?: Record<string, unknown>
}

/** Operator calls to check: `[factValue, ruleValue, expected]`. */
export type OperatorFixture = [unknown, unknown, boolean]

export interface ScoringConformanceFixtures<C extends TSchema> {
  /** Config overrides (default: the schema's defaults, as the host runs scoring plugins). */
  config?: Partial<Static<C>>
  inputs: ScoringFixture[]
  operators?: Record<string, OperatorFixture[]>
  /** Largest time a call may take, in milliseconds (the median call after warm-up; default 2). */
  budgetMs?: number
  /** Calls per input for the determinism and time checks (default 50). */
  repeat?: number
}

const silent: PluginLogger = { debug () {}, info () {}, warn () {}, error () {} }

function scoringContext<C extends TSchema> (plugin: ScoringPlugin<C>, config: Partial<Static<C>> = {}): PluginContext<Static<C>> {
  const full = Value.Default(plugin.manifest.config, Value.Clone(config)) as Static<C>
  const fail = async (): Promise<never> => { throw new Error('scoring plugins keep no state while scoring') }
  return Object.freeze({
    instanceId: `scoring:${plugin.manifest.id}`,
    config: deepFreeze(full),
    log: silent,
    signal: new AbortController().signal,
    state: { get: fail, set: fail, delete: fail },
    // scoring must not read the clock: an event's times are in the input
    now: () => { throw new Error('scoring plugins must not read the clock (use input.event.occurredAt)') },
    secrets: () => [],
  })
}

/** Freezes a value and everything it holds (dates included: their setters still work, so they are copied). */
export function deepFreeze<T> (v: T): T {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return v
  for (const k of Reflect.ownKeys(v)) deepFreeze((v as Record<PropertyKey, unknown>)[k])
  return Object.freeze(v)
}

/** A copy with every object's keys in reverse order (dates kept as dates). */
function reorder (v: unknown): unknown {
  if (v instanceof Date) return new Date(v.getTime())
  if (Array.isArray(v)) return v.map(reorder)
  if (v === null || typeof v !== 'object') return v
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(v).reverse()) out[k] = reorder((v as Record<string, unknown>)[k])
  return out
}

function cloneInput (input: ScoringInput): ScoringInput {
  return structuredClone(input)
}

// async resources that mean I/O or waiting (timers included): a scoring call must create none
const IO_TYPES = new Set(['FSREQCALLBACK', 'FSREQPROMISE', 'FILEHANDLE', 'TCPWRAP', 'TCPCONNECTWRAP', 'UDPWRAP', 'GETADDRINFOREQWRAP',
  'GETNAMEINFOREQWRAP', 'QUERYWRAP', 'PIPEWRAP', 'PIPECONNECTWRAP', 'PROCESSWRAP', 'TLSWRAP', 'HTTPCLIENTREQUEST', 'HTTPINCOMINGMESSAGE',
  'Timeout', 'Immediate', 'WORKER', 'ZLIB', 'SHUTDOWNWRAP', 'WRITEWRAP', 'STATWATCHER', 'FSEVENTWRAP', 'SIGNALWRAP'])
const SYNC_FS = ['readFileSync', 'writeFileSync', 'appendFileSync', 'openSync', 'readSync', 'writeSync', 'existsSync', 'statSync',
  'lstatSync', 'readdirSync', 'accessSync', 'mkdirSync', 'rmSync', 'unlinkSync'] as const

/**
 * Runs `fn` and reports the I/O it started: async resources of I/O types (network, files, DNS, timers, child
 * processes) and synchronous file system calls. The result must settle before a macrotask could run.
 */
async function watchIo<T> (fn: () => T | Promise<T>): Promise<{ value: T; io: string[] }> {
  const io: string[] = []
  const hook = createHook({ init (_id, type) { if (IO_TYPES.has(type)) io.push(type) } })
  const fsAny = fs as unknown as Record<string, (...a: unknown[]) => unknown>
  const saved = SYNC_FS.map((n) => [n, fsAny[n]!] as const)
  for (const [n, orig] of saved) fsAny[n] = function (this: unknown, ...a: unknown[]) { io.push(`fs.${n}`); return orig.apply(this, a) }
  syncBuiltinESMExports()
  hook.enable()
  let out: T | Promise<T>
  try {
    out = fn()
  } finally {
    hook.disable()
    for (const [n, orig] of saved) fsAny[n] = orig
    syncBuiltinESMExports()
  }
  if (out instanceof Promise) {
    // a promise that waits for I/O is still pending after the microtasks queued now have run
    let settled = false
    const p = out.then((v) => { settled = true; return v }, (e: unknown) => { settled = true; throw e })
    for (let i = 0; i < 20 && !settled; i++) await Promise.resolve()
    if (!settled) io.push('a promise that did not settle at once')
    return { value: await p, io }
  }
  return { value: out, io }
}

function checkContribution (c: unknown): string | null {
  if (c === null || typeof c !== 'object') return 'not an object'
  const x = c as Contribution
  if (typeof x.ruleId !== 'string' || !/^[A-Za-z0-9_.:-]{1,100}$/.test(x.ruleId)) return `ruleId ${JSON.stringify(x.ruleId)} is not 1-100 letters, digits, _ . : -`
  if (x.action !== 'add' && x.action !== 'set' && x.action !== 'reset') return `action ${JSON.stringify(x.action)}`
  if (x.dimension !== undefined && x.dimension !== 'engagement' && x.dimension !== 'fit' && x.dimension !== 'intent') return `dimension ${JSON.stringify(x.dimension)}`
  if (x.action !== 'reset' && (typeof x.points !== 'number' || !Number.isFinite(x.points))) return 'points is not a finite number'
  if (typeof x.reason !== 'string' || x.reason.trim() === '') return 'it has no reason (the ledger explains every change)'
  if (x.kind === 'fit') return "kind 'fit' is for fit rules: the core ignores it from plugins"
  return null
}

function factTypeOk (type: string, v: unknown): boolean {
  if (v === null || v === undefined || type === 'any') return true
  if (type === 'string[]') return Array.isArray(v) && v.every((x) => typeof x === 'string')
  return typeof v === type
}

/**
 * Checks a scoring plugin the way the server runs it, on each fixture input: its manifest, facts and operators pass
 * the host's boot checks; `score`, every fact and every operator give the same result on every call and whatever
 * the key order of the input; none mutates its input (inputs are deep-frozen) or reads the clock; each call stays
 * within the time budget; none starts I/O (network, files, DNS, timers, or a promise that does not settle at
 * once); every contribution is well formed and has a reason, and the ledger reasons the server's scoring model
 * records for them sum to the score change. `predict` (when present) is checked for determinism and purity too.
 */
export async function runScoringConformance<C extends TSchema> (t: ConformanceTest, plugin: ScoringPlugin<C>, fixtures: ScoringConformanceFixtures<C>): Promise<void> {
  const ctx = scoringContext(plugin, fixtures.config)
  const budget = fixtures.budgetMs ?? 2
  const repeat = Math.max(3, fixtures.repeat ?? 50)
  const id = plugin.manifest.id

  await t.test('manifest, facts and operators pass the boot checks', async (t) => {
    let why: string | null = null
    try { validateScoringPlugin(plugin as unknown as ScoringPlugin) } catch (err) { why = (err as Error).message }
    t.equal(why, null, 'the host accepts the manifest')
    t.equal(scoringVocabularyProblem(plugin as unknown as ScoringPlugin), null, 'facts and operators are well formed')
    t.ok(Value.Check(plugin.manifest.config, Value.Default(plugin.manifest.config, Value.Clone(fixtures.config ?? {}))), 'the config (defaults plus fixture) satisfies the schema')
    t.ok(plugin.score !== undefined || plugin.facts !== undefined || plugin.operators !== undefined || plugin.predict !== undefined, 'the plugin does something')
  })

  for (const fx of fixtures.inputs) {
    await t.test(fx.name, async (t) => {
      const frozen = deepFreeze(cloneInput(fx.input))
      const snapshot = cloneInput(fx.input)
      const calls: Array<[string, (input: ScoringInput) => unknown]> = []
      if (plugin.score !== undefined) calls.push(['score', (i) => plugin.score!(i, ctx)])
      for (const [name, f] of Object.entries(plugin.facts ?? {})) calls.push([`fact ${name}`, (i) => f.compute(i, ctx)])
      for (const [what, call] of calls) {
        let first: unknown
        try {
          const r = await watchIo(() => call(frozen))
          t.equal(r.io.join(', '), '', `${what}: no I/O on the scoring path`)
          first = r.value
        } catch (err) {
          t.fail(`${what} throws on a deep-frozen input (does it mutate its input or read the clock?): ${(err as Error).message}`)
          continue
        }
        let same = true
        const times: number[] = []
        for (let i = 0; i < repeat; i++) {
          const input = i % 2 === 0 ? frozen : deepFreeze(reorder(fx.input) as ScoringInput)
          const t0 = performance.now()
          const v = await call(input)
          const ms = performance.now() - t0
          // the first calls warm the JIT up
          if (i >= 2) times.push(ms)
          if (!isDeepStrictEqual(v, first)) same = false
        }
        t.ok(same, `${what}: the same output on ${repeat} calls, with the input's keys in either order`)
        // the median: a garbage collection or a busy machine can stall any one call
        times.sort((a, b) => a - b)
        const median = times[times.length >> 1]!
        t.ok(median <= budget, `${what}: a call takes at most ${budget} ms (median ${median.toFixed(3)} ms, slowest ${times[times.length - 1]!.toFixed(3)} ms)`)
        if (what === 'score') checkScore(t, id, first, frozen, fx)
        else {
          const name = what.slice('fact '.length)
          t.ok(factTypeOk(plugin.facts![name]!.type, first), `${what}: a ${plugin.facts![name]!.type} (or null), got ${JSON.stringify(first)}`)
        }
      }
      if (fx.expectFacts !== undefined) {
        const got: Record<string, unknown> = {}
        for (const [name, f] of Object.entries(plugin.facts ?? {})) got[name] = f.compute(frozen, ctx) ?? null
        t.ok(isDeepStrictEqual(got, fx.expectFacts), `facts are ${JSON.stringify(fx.expectFacts)} (got ${JSON.stringify(got)})`)
      }
      if (plugin.predict !== undefined) {
        const pin = deepFreeze({ lead: frozen.lead, event: frozen.event, score: frozen.score, activity: { n: 1, first: frozen.event.occurredAt.getTime(), last: frozen.event.occurredAt.getTime(), gap: null, tos: 0, types: [] } })
        try {
          const a = plugin.predict(pin, ctx)
          const b = plugin.predict(pin, ctx)
          t.ok(isDeepStrictEqual(a, b), 'predict: the same prediction twice')
        } catch (err) {
          t.fail(`predict throws on a deep-frozen input: ${(err as Error).message}`)
        }
      }
      t.ok(isDeepStrictEqual(cloneInput(fx.input), snapshot), 'the fixture input is unchanged')
    })
  }

  for (const [name, cases] of Object.entries(fixtures.operators ?? {})) {
    await t.test(`operator ${id}.${name}`, async (t) => {
      const op = plugin.operators?.[name]
      if (op === undefined) { t.fail(`the plugin has no operator '${name}'`); return }
      for (const [fact, value, want] of cases) {
        const f = deepFreeze(structuredClone(fact))
        const v = deepFreeze(structuredClone(value))
        const r = await watchIo(() => op(f, v))
        t.equal(r.io.join(', '), '', `no I/O for (${JSON.stringify(fact)}, ${JSON.stringify(value)})`)
        t.equal(r.value, want, `(${JSON.stringify(fact)}, ${JSON.stringify(value)}) is ${String(want)}`)
        t.equal(op(f, v), r.value, 'the same answer again')
      }
      for (const odd of [undefined, null, 42, {}, []]) {
        let r: unknown
        try { r = op(odd, odd) } catch (err) { r = err }
        t.equal(typeof r, 'boolean', `a boolean, not a throw, for ${JSON.stringify(odd) ?? 'undefined'}`)
      }
    })
  }
}

/** The contributions are well formed and the ledger the model writes for them explains the whole change. */
function checkScore (t: ConformanceTest, id: string, out: unknown, input: ScoringInput, fx: ScoringFixture): void {
  if (!Array.isArray(out)) { t.fail(`score returns an array, got ${JSON.stringify(out)}`); return }
  for (const c of out) {
    const why = checkContribution(c)
    t.equal(why, null, `contribution ${JSON.stringify((c as Contribution)?.ruleId)} is well formed`)
  }
  if (fx.expectRules !== undefined) {
    const rules = out.map((c: Contribution) => c.ruleId)
    t.ok(isDeepStrictEqual(rules, fx.expectRules), `rules ${fx.expectRules.join(', ') || '(none)'} (got ${rules.join(', ') || '(none)'})`)
  }
  const settings = {}
  const before = { ...initialState(settings), total: input.score.total, engagement: input.score.engagement, fit: input.score.fit, intent: input.score.intent }
  const applied = applyContributions(before, out.map((c: Contribution) => ({ ...c, ruleId: `${id}.${c.ruleId}` })), { at: input.event.occurredAt.getTime(), ruleVersion: input.rulesetVersion, settings })
  const sum = applied.reasons.reduce((s, r) => s + r.points, 0)
  t.equal(sum, applied.state.total - before.total, `the ledger reasons sum to the change (${sum})`)
  t.ok(applied.reasons.every((r) => r.note.trim() !== '' && r.note !== r.ruleId), 'every ledger reason explains itself (not just a rule id)')
}
