// Test harness: a real Mongo-protocol server (the run's FerretDB, or MONGODB_URI), a fresh database per test file,
// the real app built in-process, and helpers that wait for scoring to catch up.
import tap from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildApp, type BuildOptions } from '../../server/src/app.js'
import { loadConfig, type AppConfig } from '../../server/src/config.js'
import { openDatabase, type Database } from '../../server/src/infra/db.js'
import { startFerretDb, type EmbeddedDb } from '../../server/src/infra/ferretdb.js'
import { createLeadViews } from '../../server/src/domain/lead-views/service.js'
import { createEventStatus } from '../../server/src/domain/events/event-status.js'
import type { EventDoc, EventStatus } from '../../server/src/domain/types.js'
import type { Filter } from 'mongodb'

export const ADMIN_KEY = 'lsk_test_admin_key_0123456789abcdef'
export const AUTH = { authorization: `Bearer ${ADMIN_KEY}` }

interface Tap { teardown(fn: () => unknown): void }

let ownServer: Promise<EmbeddedDb> | null = null

/**
 * The Mongo-protocol server URI for tests: the run's shared one, MONGODB_URI, or a FerretDB started for this file
 * (a file run on its own). That one serves the whole file: it stops when the file's root test ends, not with the
 * subtest that happened to start it (`_t` is kept for the callers that pass it).
 */
export async function testMongoUri (_t?: Tap): Promise<string> {
  const shared = process.env.LEADSCORE_TEST_MONGODB_URI ?? process.env.MONGODB_URI
  if (shared !== undefined) return shared
  if (ownServer === null) {
    const dir = mkdtempSync(join(tmpdir(), 'leadscore-file-'))
    ownServer = startFerretDb({ dataDir: dir })
    const s = await ownServer
    process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
    tap.teardown(async () => { await s.stop() })
  }
  return (await ownServer).uri
}

export function freshDbName (): string {
  return `ls_test_${randomBytes(6).toString('hex')}`
}

/** Test configuration: fast job polling and a known admin key. */
export function testConfig (uri: string, dbName: string, overrides: Record<string, string> = {}): AppConfig {
  return loadConfig({
    MONGODB_URI: uri, MONGODB_DB: dbName, LEADSCORE_BOOTSTRAP_API_KEY: ADMIN_KEY, LEADSCORE_DEMO: '0', LOG_LEVEL: 'silent',
    LEADSCORE_PROCESS_EVERY_MS: '200', LEADSCORE_SWEEP_EVERY_MS: '500', LEADSCORE_LOCK_LIFETIME_MS: '5000', ...overrides,
  })
}

export interface TestApp { app: FastifyInstance; db: Database; dbName: string; uri: string }

/** A fresh database and a ready app on it; both are closed (and the database dropped) at teardown. */
export async function buildTestApp (t: Tap, overrides: Record<string, string> = {}, opts: BuildOptions = {}): Promise<TestApp> {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const config = testConfig(uri, dbName, overrides)
  const db = await openDatabase(uri, dbName)
  const app = await buildApp(config, { logger: false, database: db, ...opts })
  await app.ready()
  t.teardown(async () => {
    await app.close()
    await db.db.dropDatabase().catch(() => undefined)
    await db.close()
  })
  return { app, db, dbName, uri }
}

/**
 * How many of the events matching `filter` show each status, as the API shows it: a scored event may be stored as
 * `pending`, its status following from its lead (server/src/domain/events/event-status.ts).
 */
export async function eventStatusCounts (db: Database, filter: Filter<EventDoc> = {}): Promise<Record<EventStatus, number>> {
  const out: Record<EventStatus, number> = { pending: 0, scored: 0, unmapped: 0 }
  const stored = db.c.events.find(filter).project<Pick<EventDoc, 'leadId' | 'seq' | 'status'>>({ leadId: 1, seq: 1, status: 1 })
  for await (const e of createEventStatus(db).resolveStream(stored)) out[e.status]++
  return out
}

/**
 * Leaves the lead's last batch as a process stopped between its commit and the end of its finalize leaves it: with
 * its revision claim in place, the sign of an unfinished batch (server/src/domain/scoring/processor.ts).
 */
export async function unfinishLastBatch (db: Database, leadId: string): Promise<void> {
  const batch = (await db.c.leads.findOne({ _id: leadId }))?.lastBatch
  if (batch?.claim === undefined) throw new Error(`lead ${leadId} has no batch with a claim`)
  const at = new Date()
  await db.c.locks.insertOne({ _id: batch.claim, owner: batch.token, expiresAt: at, acquiredAt: at })
}

/** Polls until no event is pending (scoring caught up) or the timeout passes. */
export async function waitForScoring (db: Database, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const pending = (await eventStatusCounts(db, { status: 'pending' })).pending
    const flagged = await db.c.leads.countDocuments({ rescoreFrom: { $type: 'string' } })
    // the stored-events counter behind /v1/stats counts a batch scored just after it marks the events
    const counted = pending === 0 && flagged === 0 ? (await createLeadViews({ c: db.c, now: () => new Date() }).statusCounters()).pending : -1
    if (counted === 0) return
    if (Date.now() > deadline) throw new Error(`scoring did not catch up within ${timeoutMs} ms (${pending} events pending, ${flagged} leads flagged)`)
    // both counts read whole collections on FerretDB: polling them faster slows the scoring being waited for
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** POST /v1/events through inject. */
export async function postEvents (app: FastifyInstance, body: unknown, headers: Record<string, string> = {}) {
  return await app.inject({ method: 'POST', url: '/v1/events', headers: { ...AUTH, 'content-type': 'application/json', ...headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) })
}

/**
 * Rebuilds the lead views (index and counters) and waits for it: for tests that write lead documents straight into
 * the database, which the views (kept by the server's own writes) do not see.
 */
export async function rebuildViews (app: FastifyInstance): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/v1/views/rebuild', headers: AUTH })
  if (res.statusCode !== 202) throw new Error(`rebuild refused: ${res.statusCode} ${res.body}`)
  const id = res.json<{ id: string }>().id
  for (let i = 0; i < 1200; i++) {
    const job = (await app.inject({ url: `/v1/jobs/${id}`, headers: AUTH })).json<{ state: string; error: string | null }>()
    if (job.state === 'done') return
    if (job.state === 'failed') throw new Error(`rebuild failed: ${job.error ?? ''}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('rebuild did not finish')
}
