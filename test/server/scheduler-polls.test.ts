// Agenda's poll asks the database once for the job names with due work, not once per name: an idle scheduler sends
// no find-and-modify, while a run queued in this process still starts at once and one queued by another process (or
// come due) at the next poll.
import t from 'tap'
import { MongoClient, type CommandStartedEvent } from 'mongodb'
import { freshDbName, testMongoUri } from '../helpers/harness.js'
import { Scheduler } from '../../server/src/infra/agenda.js'

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined }

t.test('an idle poll reads the due names once; queued and due jobs still run', { timeout: 60_000 }, async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const client = await MongoClient.connect(uri, { monitorCommands: true })
  const other = await MongoClient.connect(uri)
  t.teardown(async () => { await client.db(dbName).dropDatabase().catch(() => undefined); await client.close(); await other.close() })
  const commands: string[] = []
  client.on('commandStarted', (e: CommandStartedEvent) => { if (e.databaseName === dbName) commands.push(e.commandName) })

  const ran: Array<{ name: string; at: number }> = []
  const names = ['a', 'b', 'c', 'd', 'e', 'f']
  const scheduler = new Scheduler({ db: client.db(dbName), processEveryMs: 2000, concurrency: 1, lockLifetimeMs: 10_000, log: quiet })
  for (const name of names) scheduler.define({ name, handler: async () => { ran.push({ name, at: Date.now() }) } })
  await scheduler.start()
  t.teardown(async () => { await scheduler.drain(5000) })

  await new Promise((r) => setTimeout(r, 1500)) // the start's first polls
  commands.length = 0
  await new Promise((r) => setTimeout(r, 6500))
  const count = (name: string): number => commands.filter((c) => c === name).length
  t.equal(count('findAndModify'), 0, `no find-and-modify while nothing is due (commands: ${[...new Set(commands)].join(', ')})`)
  // a poll every 2 s: three in 6.5 s, give or take one on a busy machine (a poll per name would be 18)
  t.ok(count('distinct') >= 2 && count('distinct') <= 5, `one read of the due names per poll (${count('distinct')} in 6.5 s)`)

  // queued in this process: runs at once (the notification asks again, not the next poll)
  const queued = Date.now()
  await scheduler.now('c', {})
  for (let i = 0; i < 100 && !ran.some((r) => r.name === 'c'); i++) await new Promise((r) => setTimeout(r, 20))
  const c = ran.find((r) => r.name === 'c')
  t.ok(c !== undefined && c.at - queued < 1800, `a run queued here starts before the next poll (${c === undefined ? 'never' : `${c.at - queued} ms`})`)

  // queued by another process (a plain insert Agenda's own way would make): found by the next poll
  const due = Date.now()
  await other.db(dbName).collection('agendaJobs').insertOne({ name: 'e', data: {}, type: 'normal', priority: 0, nextRunAt: new Date(), lockedAt: null, lastModifiedBy: null })
  for (let i = 0; i < 300 && !ran.some((r) => r.name === 'e'); i++) await new Promise((r) => setTimeout(r, 20))
  const e = ran.find((r) => r.name === 'e')
  t.ok(e !== undefined && e.at - due < 5000, `a run queued by another process starts at the next poll (${e === undefined ? 'never' : `${e.at - due} ms`})`)
  t.same(ran.map((r) => r.name).sort(), ['c', 'e'], 'nothing else ran')
})
