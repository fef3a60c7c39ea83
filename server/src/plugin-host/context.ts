import type { Collection } from 'mongodb'
import type { KeyValueStore, PluginContext, PluginLogger } from '../contracts/index.js'
import type { SourceStateDoc } from '../domain/types.js'

export const MAX_STATE_KEY = 200
export const MAX_STATE_VALUE = 64 * 1024

/**
 * The key-value store of one instance, in `sourceState` with `_id` = `<instanceId>/<key>` (an `_id` lookup, the one
 * every MongoDB-protocol server serves from an index). Keys starting with `~` are the host's (cursor, poll state).
 */
export function createStateStore (col: Collection<SourceStateDoc>, instanceId: string, now: () => Date, opts: { host?: boolean } = {}): KeyValueStore {
  const check = (key: string): void => {
    if (typeof key !== 'string' || key.length < 1 || key.length > MAX_STATE_KEY) throw new TypeError(`state keys are 1-${MAX_STATE_KEY} characters`)
    if (opts.host !== true && key.startsWith('~')) throw new TypeError("state keys starting with '~' are reserved for the host")
  }
  return {
    async get (key) {
      check(key)
      const d = await col.findOne({ _id: `${instanceId}/${key}` })
      return d === null ? null : d.value
    },
    async set (key, value) {
      check(key)
      if (typeof value !== 'string') throw new TypeError('state values are strings (store JSON for structured data)')
      if (Buffer.byteLength(value) > MAX_STATE_VALUE) throw new TypeError(`state values are at most ${MAX_STATE_VALUE} bytes`)
      await col.replaceOne({ _id: `${instanceId}/${key}` }, { instanceId, key, value, updatedAt: now() }, { upsert: true })
    },
    async delete (key) {
      check(key)
      await col.deleteOne({ _id: `${instanceId}/${key}` })
    },
  }
}

interface LoggerLike extends PluginLogger { child(bindings: Record<string, unknown>): LoggerLike }

/** The parts of a context the host builds per call. */
export interface ContextInput<Cfg> {
  instanceId: string
  pluginId: string
  config: Cfg
  secrets: (name: string) => readonly string[]
}

/**
 * Makes plugin contexts. Each instance has its own AbortController, aborted when the instance is disabled or
 * deleted or the server closes, and its own namespaced state store.
 */
export function createContextFactory (deps: { state: Collection<SourceStateDoc>; log: LoggerLike; now: () => Date }) {
  const controllers = new Map<string, AbortController>()
  let closed = false
  const signalOf = (id: string): AbortSignal => {
    let ac = controllers.get(id)
    if (ac === undefined) {
      ac = new AbortController()
      if (closed) ac.abort(new Error('the server is shutting down'))
      controllers.set(id, ac)
    }
    return ac.signal
  }
  return {
    context<Cfg> (input: ContextInput<Cfg>): PluginContext<Cfg> {
      const config = Object.freeze(input.config)
      return Object.freeze({
        instanceId: input.instanceId,
        config,
        log: deps.log.child({ plugin: input.pluginId, instanceId: input.instanceId }),
        signal: signalOf(input.instanceId),
        state: createStateStore(deps.state, input.instanceId, deps.now),
        now: deps.now,
        secrets: (name: string) => Object.freeze([...input.secrets(name)]),
      })
    },
    /** Aborts the instance's signal (disabled or deleted); a later context gets a fresh one. */
    abort (id: string, reason: string): void {
      controllers.get(id)?.abort(new Error(reason))
      controllers.delete(id)
    },
    /** Aborts every instance's signal (shutdown). */
    abortAll (): void {
      closed = true
      for (const ac of controllers.values()) ac.abort(new Error('the server is shutting down'))
    },
  }
}

export type ContextFactory = ReturnType<typeof createContextFactory>
