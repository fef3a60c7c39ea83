/**
 * The conformance suite for source plugins, public as `@leadscore/server/testing`. Every first-party source runs it,
 * and plugin authors run the same suite against theirs:
 *
 * ```ts
 * import t from 'tap'
 * import { runSourceConformance } from '@leadscore/server/testing'
 * import plugin from '../src/index.js'
 *
 * await runSourceConformance(t, plugin, {
 *   config: { token: 'secret-token' },
 *   invalidConfigs: [{ name: 'token too short', config: { token: 'x' } }],
 *   http: [
 *     { name: 'a valid delivery', headers: { 'x-token': 'secret-token', 'content-type': 'application/json' }, body: '{"email":"a@b.co"}', expect: { events: 1 } },
 *     { name: 'a wrong token', headers: { 'x-token': 'nope', 'content-type': 'application/json' }, body: '{}', expect: { error: 'auth' } },
 *   ],
 * })
 * ```
 *
 * It checks the plugin the way the server will use it: the manifest passes the server's boot checks; the config
 * schema accepts the fixture's config and refuses bad ones; every event produced is an event the server's ingest
 * accepts; expected failures are typed plugin errors; re-delivering (or re-fetching, or re-parsing) the same input
 * gives the same event identities, so the server recognises duplicates; and, mounted in a real Fastify scope the way
 * the server mounts it, deliveries are answered with the right status and a redelivery is a duplicate.
 * @packageDocumentation
 */
import Fastify, { type FastifyInstance } from 'fastify'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { isBatchRow, isRefusedInput, pluginErrorKind, type BatchFile, type EventInput, type KeyValueStore, type PluginContext, type PluginErrorKind, type PluginLogger, type SourcePlugin } from '../contracts/index.js'
import { normalizeEvent } from '../domain/events/normalize.js'
import type { IngestSummary, ItemResult } from '../domain/events/ingest.js'
import problemDetails from '../infra/problem-details.js'
import httpParsing, { parseJsonStrict } from '../infra/http-parsing.js'
import { ProblemDetails } from '../schemas/common.js'
import { createRegistry, importPlugins, validateSourcePlugin } from '../plugin-host/registry.js'
import { mountSourcePlugin, type DeliveryHost } from '../plugin-host/http.js'
import { FIRST_PARTY_PLUGINS } from '../plugin-host/first-party.js'

/** The part of a tap `Test` (or a compatible runner) the suite uses. */
export interface ConformanceTest {
  // the subtest is typed loosely so that tap's overloaded `test` (and other runners') fit; it is used as a ConformanceTest
  test(name: string, fn: (t: any) => Promise<void>): unknown // eslint-disable-line @typescript-eslint/no-explicit-any
  ok(value: unknown, message: string): unknown
  equal(found: unknown, wanted: unknown, message: string): unknown
  fail(message: string): unknown
}

/** What a fixture expects: this many events, or a plugin error of this kind. */
export type Expectation = { events: number } | { error: PluginErrorKind }

/** One request to one of the plugin's HTTP routes. */
export interface HttpFixture {
  name: string
  /** The route's `url` (default: the first route). */
  route?: string
  headers?: Record<string, string>
  query?: Record<string, string>
  /** The exact body bytes (sign these). */
  body: string | Uint8Array
  expect: Expectation
}

/** One fetch of the plugin's poll from a cursor. Point `config` at a test server the fixture controls. */
export interface PollFixture { name: string; cursor: string | null; expect: Expectation }

/** One file for the plugin's batch parser. */
export interface BatchFixture {
  name: string
  body: string | Uint8Array
  /** The file's media type (default: the first of `batch.accepts`). */
  type?: string
  /** The file's name (default: null). */
  filename?: string
  /** The upload's options (`kind`, `mapping`), as the host passes them (default: none). */
  options?: Record<string, unknown>
  /** Events, or a typed error; `refused`: how many rows the parser refuses (default 0). */
  expect: Expectation
  refused?: number
}

export interface SourceConformanceFixtures<C extends TSchema> {
  /** A valid instance config as an admin would send it (secrets included; keys with defaults may be left out). */
  config: Partial<Static<C>>
  /** Configs the plugin must refuse (schema or checkConfig). An unknown top-level key is always tried as well. */
  invalidConfigs?: Array<{ name: string; config: unknown }>
  /** The instant the injected clock shows (default: the time the suite starts). */
  now?: Date
  /** Older still-valid values per secret key, as after a rotation (ctx.secrets returns the config's value first). */
  previousSecrets?: Record<string, string[]>
  http?: HttpFixture[]
  poll?: PollFixture[]
  batch?: BatchFixture[]
}

const INSTANCE_ID = 'src_conformance'
const silent: PluginLogger & { child(): PluginLogger } = { debug () {}, info () {}, warn () {}, error () {}, child: () => silent }

/** An in-memory key-value store with the host's limits. */
export function memoryStore (): KeyValueStore & { entries: Map<string, string> } {
  const entries = new Map<string, string>()
  const check = (key: string): void => {
    if (typeof key !== 'string' || key.length < 1 || key.length > 200) throw new TypeError('state keys are 1-200 characters')
    if (key.startsWith('~')) throw new TypeError("state keys starting with '~' are reserved for the host")
  }
  return {
    entries,
    async get (key) { check(key); return entries.get(key) ?? null },
    async set (key, value) {
      check(key)
      if (typeof value !== 'string' || Buffer.byteLength(value) > 64 * 1024) throw new TypeError('state values are strings of at most 64 KiB')
      entries.set(key, value)
    },
    async delete (key) { check(key); entries.delete(key) },
  }
}

/** A context like the host's, over an in-memory store and a fixed clock. */
export function testContext<C extends TSchema> (plugin: SourcePlugin<C>, config: Partial<Static<C>>, opts: { now?: Date; previousSecrets?: Record<string, string[]>; state?: KeyValueStore } = {}): PluginContext<Static<C>> {
  const now = opts.now ?? new Date()
  const full = Value.Default(plugin.manifest.config, Value.Clone(config)) as Static<C>
  const secretKeys = plugin.manifest.secrets ?? []
  return Object.freeze({
    instanceId: INSTANCE_ID,
    config: Object.freeze(full),
    log: silent,
    signal: new AbortController().signal,
    state: opts.state ?? memoryStore(),
    now: () => new Date(now.getTime()),
    secrets: (name: string) => {
      if (!secretKeys.includes(name)) return []
      const v = (full as Record<string, unknown>)[name]
      return Object.freeze([...(typeof v === 'string' ? [v] : []), ...(opts.previousSecrets?.[name] ?? [])])
    },
  })
}

/** Why the server's ingest would refuse an event, or null when it would accept it; with the identity it would store. */
function ingestCheck (ev: unknown, receivedAt: Date): { error: string | null; externalId: string | null } {
  const r = normalizeEvent(ev, { sourceId: INSTANCE_ID, receivedAt, limits: { maxEventBytes: 32 * 1024, maxFutureSkewMs: 5 * 60_000 } })
  return r.ok ? { error: null, externalId: r.event.externalId } : { error: `${r.reason.code}: ${r.reason.message}`, externalId: null }
}

function describe (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

/** Checks events against the server's ingest and returns their identities. */
function checkEvents (t: ConformanceTest, events: unknown, now: Date, expected: number, what: string): string[] {
  if (!Array.isArray(events)) { t.fail(`${what}: returned ${typeof events}, not an array of events`); return [] }
  t.equal(events.length, expected, `${what}: ${expected} event(s)`)
  const ids: string[] = []
  events.forEach((ev, i) => {
    const r = ingestCheck(ev, now)
    t.ok(r.error === null, `${what}: event ${i} is accepted by ingest${r.error !== null ? ` (refused: ${r.error})` : ''}`)
    if (r.externalId !== null) ids.push(r.externalId)
  })
  return ids
}

function checkError (t: ConformanceTest, err: unknown, expected: PluginErrorKind | null, what: string): void {
  const kind = pluginErrorKind(err)
  if (expected === null) { t.fail(`${what}: threw ${describe(err)}`); return }
  t.ok(kind !== null, `${what}: throws a typed plugin error (got ${describe(err)})`)
  t.equal(kind, expected, `${what}: the error's kind is ${expected}`)
}

function inbound (fx: HttpFixture, method: 'POST' | 'PUT') {
  const raw = Buffer.from(typeof fx.body === 'string' ? fx.body : fx.body)
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(fx.headers ?? {})) headers[k.toLowerCase()] = v
  let body: unknown
  if (/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(headers['content-type'] ?? '') && raw.length > 0) {
    try { body = parseJsonStrict(raw) } catch { body = undefined }
  }
  return Object.freeze({ method, headers: Object.freeze(headers), query: Object.freeze({ ...(fx.query ?? {}) }), body, rawBody: raw })
}

/** The in-memory stand-in for the server: ingest with the server's validation and (sourceId, externalId) de-duplication. */
function memoryHost (ctx: PluginContext<unknown>, pluginId: string, now: Date): DeliveryHost & { stored: Map<string, unknown> } {
  const stored = new Map<string, unknown>()
  return {
    stored,
    async resolve (id, type) { return id === INSTANCE_ID && type === pluginId ? { enabled: true, ctx } : null },
    async ingest (events): Promise<IngestSummary> {
      const results: ItemResult[] = events.map((ev, index) => {
        const r = normalizeEvent(ev, { sourceId: INSTANCE_ID, receivedAt: now, limits: { maxEventBytes: 32 * 1024, maxFutureSkewMs: 5 * 60_000 } })
        if (!r.ok) return { index, status: 'rejected', error: r.reason }
        if (stored.has(r.event.externalId)) return { index, status: 'duplicate', eventId: r.event.externalId }
        stored.set(r.event.externalId, ev)
        return { index, status: 'accepted', eventId: r.event.externalId }
      })
      const count = (s: string): number => results.filter((r) => r.status === s).length
      return { submitted: events.length, accepted: count('accepted'), duplicates: count('duplicate'), rejected: count('rejected'), results }
    },
    async rejectDelivery () {},
    async rejectInputs () {},
    async delivered () {},
    async failed () {},
    now: () => now,
    bodyLimit: 1024 * 1024,
  }
}

async function hostApp (plugin: SourcePlugin, host: DeliveryHost): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  // the one piece of the server's config its problem answers read
  app.decorate('config', { problemBaseUrl: '/problems' } as unknown as FastifyInstance['config'])
  await app.register(problemDetails)
  await app.register(httpParsing)
  app.addSchema(ProblemDetails)
  await mountSourcePlugin(app, plugin, host)
  await app.ready()
  return app
}

const STATUS_OF: Record<PluginErrorKind, number[]> = { auth: [401], input: [400, 413, 415, 422], permanent: [400, 413, 415, 422], transient: [503] }

/**
 * Runs the conformance suite for a source plugin as subtests of `t`.
 * @param t a tap `Test` (or anything with `test`, `ok`, `equal` and `fail`)
 * @param plugin the plugin, as exported (made with `defineSourcePlugin`)
 * @param fixtures a valid config, configs to refuse, and inputs for each of the plugin's triggers with what they must give
 */
export async function runSourceConformance<C extends TSchema> (t: ConformanceTest, plugin: SourcePlugin<C>, fixtures: SourceConformanceFixtures<C>): Promise<void> {
  const now = fixtures.now ?? new Date()
  const sp = plugin as unknown as SourcePlugin

  await t.test('manifest passes the server\'s boot checks', async (t: ConformanceTest) => {
    try {
      validateSourcePlugin(sp)
      t.ok(true, 'the plugin is valid')
    } catch (err) { t.fail(`refused at boot: ${describe(err)}`) }
    // the first-party plugins that are installed, loaded the way the server loads them
    const shipped: unknown[] = []
    for (const name of FIRST_PARTY_PLUGINS) {
      try { shipped.push(...await importPlugins([name])) } catch { /* not installed next to this server */ }
    }
    try {
      createRegistry(shipped.includes(sp) ? shipped : [...shipped, sp])
      t.ok(true, `no conflict with the ${shipped.length} installed first-party plugins (id, routes)`)
    } catch (err) { t.fail(`conflicts: ${describe(err)}`) }
    for (const s of plugin.manifest.secrets ?? []) {
      t.ok(typeof (fixtures.config as Record<string, unknown>)[s] === 'string', `the fixture config sets the secret '${s}'`)
    }
    if (plugin.generateSecret !== undefined) {
      for (const s of plugin.manifest.secrets ?? []) {
        const v = plugin.generateSecret(s)
        if (v === null) continue // a secret only the admin can supply
        t.ok(typeof v === 'string' && v.length >= 16, `generateSecret('${s}') gives a long string`)
        const cfg = { ...(fixtures.config as Record<string, unknown>), [s]: v }
        const withDefaults = Value.Default(plugin.manifest.config, Value.Clone(cfg))
        t.ok(Value.Check(plugin.manifest.config, withDefaults) && (plugin.checkConfig?.(withDefaults as never) ?? []).length === 0, `a generated '${s}' is a valid config value`)
      }
    }
  })

  await t.test('config schema accepts the fixture config and refuses bad ones', async (t: ConformanceTest) => {
    const problems = (cfg: unknown): string[] => {
      const withDefaults = Value.Default(plugin.manifest.config, Value.Clone(cfg))
      if (!Value.Check(plugin.manifest.config, withDefaults)) return [...Value.Errors(plugin.manifest.config, withDefaults)].map((e) => `${e.path}: ${e.message}`)
      return [...(plugin.checkConfig?.(withDefaults as never) ?? [])]
    }
    const good = problems(fixtures.config)
    t.equal(good.join('; '), '', 'the fixture config is valid')
    const bad = [...(fixtures.invalidConfigs ?? []), { name: 'an unknown key', config: { ...(fixtures.config as Record<string, unknown>), conformanceUnknownKey: true } }]
    for (const b of bad) t.ok(problems(b.config).length > 0, `refuses ${b.name}`)
  })

  if (plugin.http !== undefined) {
    const routes = plugin.http.routes
    const routeOf = (fx: HttpFixture) => fx.route === undefined ? routes[0] : routes.find((r) => r.url === fx.route)
    await t.test('http: deliveries give valid events or typed errors, and the same delivery gives the same events', async (t: ConformanceTest) => {
      if ((fixtures.http ?? []).length === 0) t.fail('give http fixtures: at least one delivery that produces events and one that fails verification')
      for (const fx of fixtures.http ?? []) {
        const route = routeOf(fx)
        if (route === undefined) { t.fail(`${fx.name}: no route ${fx.route ?? ''}`); continue }
        const run = async (): Promise<EventInput[]> => {
          const ctx = testContext(plugin, fixtures.config, { now, ...(fixtures.previousSecrets !== undefined ? { previousSecrets: fixtures.previousSecrets } : {}) })
          const req = inbound(fx, route.method)
          if (route.verify !== undefined) await route.verify(req, ctx)
          const out = await route.handle(req, ctx)
          // a delivery expected to give events gives events, not inputs the plugin refused
          for (const x of out) if (isRefusedInput(x)) t.fail(`${fx.name}: refused an input: ${x.refused.code} ${x.refused.reason}`)
          return out.filter((x): x is EventInput => !isRefusedInput(x))
        }
        if ('events' in fx.expect) {
          let a: EventInput[]
          let b: EventInput[]
          try { a = await run(); b = await run() } catch (err) { t.fail(`${fx.name}: threw ${describe(err)}`); continue }
          const ids = checkEvents(t, a, now, fx.expect.events, fx.name)
          const again = checkEvents(t, b, now, fx.expect.events, `${fx.name} (delivered again)`)
          t.equal(JSON.stringify(again), JSON.stringify(ids), `${fx.name}: a redelivery has the same event identities`)
          t.equal(new Set(ids).size, ids.length, `${fx.name}: the events of one delivery have distinct identities`)
        } else {
          try {
            await run()
            t.fail(`${fx.name}: expected a ${fx.expect.error} error, but it succeeded`)
          } catch (err) { checkError(t, err, fx.expect.error, fx.name) }
        }
      }
    })

    await t.test('http: mounted like the server mounts it, answers are right and redeliveries are duplicates', async (t: ConformanceTest) => {
      const ctx = testContext(plugin, fixtures.config, { now, ...(fixtures.previousSecrets !== undefined ? { previousSecrets: fixtures.previousSecrets } : {}) }) as PluginContext<unknown>
      const host = memoryHost(ctx, plugin.manifest.id, now)
      const app = await hostApp(sp, host)
      try {
        for (const fx of fixtures.http ?? []) {
          const route = routeOf(fx)
          if (route === undefined) continue
          const send = async () => await app.inject({
            method: route.method, url: `/v1/sources/${INSTANCE_ID}${route.url}`, headers: fx.headers ?? {},
            query: fx.query ?? {}, payload: Buffer.from(typeof fx.body === 'string' ? fx.body : fx.body),
          })
          const first = await send()
          if ('events' in fx.expect) {
            t.ok(first.statusCode === 200 || first.statusCode === 202, `${fx.name}: answered 2xx (got ${first.statusCode} ${first.body.slice(0, 200)})`)
            if (first.statusCode >= 300) continue
            const body = first.json<{ submitted: number; accepted: number; duplicates: number }>()
            t.equal(body.submitted, fx.expect.events, `${fx.name}: ${fx.expect.events} submitted`)
            const second = await send()
            const again = second.json<{ accepted: number; duplicates: number; rejected: number }>()
            t.equal(again.accepted, 0, `${fx.name}: nothing new is accepted from a redelivery`)
            t.equal(again.duplicates, body.accepted + body.duplicates, `${fx.name}: the redelivery is answered as duplicates`)
          } else {
            t.ok(STATUS_OF[fx.expect.error].includes(first.statusCode), `${fx.name}: answered ${STATUS_OF[fx.expect.error].join(' or ')} (got ${first.statusCode})`)
            t.equal(first.headers['content-type'], 'application/problem+json; charset=utf-8', `${fx.name}: as a problem`)
          }
        }
        for (const route of routes) {
          const garbage = await app.inject({ method: route.method, url: `/v1/sources/${INSTANCE_ID}${route.url}`, headers: { 'content-type': 'application/json' }, payload: '{"not":"what you expect"' })
          t.ok(garbage.statusCode < 500, `${route.method} ${route.url}: garbage is refused, never a 500 (got ${garbage.statusCode})`)
          const empty = await app.inject({ method: route.method, url: `/v1/sources/${INSTANCE_ID}${route.url}` })
          t.ok(empty.statusCode < 500, `${route.method} ${route.url}: an empty request is refused, never a 500 (got ${empty.statusCode})`)
        }
      } finally {
        await app.close()
      }
    })
  }

  if (plugin.poll !== undefined) {
    const poll = plugin.poll
    await t.test('poll: fetches give valid events, a cursor, and the same events again from the same cursor', async (t: ConformanceTest) => {
      const every = typeof poll.every === 'string' ? poll.every : poll.every(Value.Default(plugin.manifest.config, Value.Clone(fixtures.config)) as never)
      t.ok(typeof every === 'string' && /^\d+(ms|s|m|h|d)$/.test(every), `the period '${String(every)}' is a duration`)
      if ((fixtures.poll ?? []).length === 0) t.fail('give poll fixtures: at least one fetch from a null cursor')
      for (const fx of fixtures.poll ?? []) {
        const fetch = async () => await poll.fetch(fx.cursor, testContext(plugin, fixtures.config, { now }))
        if ('events' in fx.expect) {
          let a: Awaited<ReturnType<typeof fetch>>
          let b: Awaited<ReturnType<typeof fetch>>
          try { a = await fetch(); b = await fetch() } catch (err) { t.fail(`${fx.name}: threw ${describe(err)}`); continue }
          t.ok(a !== null && typeof a === 'object' && (a.cursor === null || typeof a.cursor === 'string'), `${fx.name}: the cursor is a string or null`)
          const ids = checkEvents(t, a.events, now, fx.expect.events, fx.name)
          const again = checkEvents(t, b.events, now, fx.expect.events, `${fx.name} (fetched again)`)
          t.equal(JSON.stringify(again), JSON.stringify(ids), `${fx.name}: fetching again from the same cursor gives the same identities`)
          t.equal(b.cursor, a.cursor, `${fx.name}: and the same next cursor`)
        } else {
          try {
            await fetch()
            t.fail(`${fx.name}: expected a ${fx.expect.error} error, but it succeeded`)
          } catch (err) { checkError(t, err, fx.expect.error, fx.name) }
        }
      }
    })
  }

  if (plugin.batch !== undefined) {
    const batch = plugin.batch
    await t.test('batch: parsing gives valid events, and the same file gives the same events', async (t: ConformanceTest) => {
      if ((fixtures.batch ?? []).length === 0) t.fail('give batch fixtures')
      for (const fx of fixtures.batch ?? []) {
        const parse = async (): Promise<EventInput[]> => {
          const bytes = Buffer.from(typeof fx.body === 'string' ? fx.body : fx.body)
          async function * chunks (): AsyncIterable<Uint8Array> { for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7) }
          const type = fx.type ?? batch.accepts[0]!
          const file: BatchFile = { name: fx.filename ?? null, type, options: Object.freeze({ ...(fx.options ?? {}) }), limits: { maxRowBytes: 64 * 1024, maxColumns: 500 }, describe () {} }
          const out: EventInput[] = []
          let refused = 0
          let lastLine = 0
          for await (const item of batch.parse(chunks(), testContext(plugin, fixtures.config, { now }), file)) {
            if (isBatchRow(item)) {
              t.ok(item.line > lastLine, `${fx.name}: row lines increase (${item.line})`)
              lastLine = item.line
            }
            const value = isBatchRow(item) ? item.input : item
            if (isRefusedInput(value)) {
              refused++
              t.ok(/^[A-Z][A-Z0-9_]*_ERR_[A-Z0-9_]+$/.test(value.refused.code) && value.refused.reason.length > 0, `${fx.name}: a refused row has a code and a reason (${value.refused.code})`)
            } else {
              out.push(value)
            }
          }
          t.equal(refused, fx.refused ?? 0, `${fx.name}: ${fx.refused ?? 0} row(s) refused`)
          return out
        }
        if ('events' in fx.expect) {
          let a: EventInput[]
          let b: EventInput[]
          try { a = await parse(); b = await parse() } catch (err) { t.fail(`${fx.name}: threw ${describe(err)}`); continue }
          const ids = checkEvents(t, a, now, fx.expect.events, fx.name)
          t.equal(JSON.stringify(checkEvents(t, b, now, fx.expect.events, `${fx.name} (again)`)), JSON.stringify(ids), `${fx.name}: parsing again gives the same identities`)
        } else {
          try {
            await parse()
            t.fail(`${fx.name}: expected a ${fx.expect.error} error, but it succeeded`)
          } catch (err) { checkError(t, err, fx.expect.error, fx.name) }
        }
      }
    })
  }
}

export { runScoringConformance, deepFreeze, type ScoringConformanceFixtures, type ScoringFixture, type OperatorFixture } from './scoring.js'
