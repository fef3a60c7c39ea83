import type { FastifyInstance } from 'fastify'
import type { Collection } from 'mongodb'
import { Value } from '@sinclair/typebox/value'
import type { ScoringPlugin } from '../contracts/index.js'
import type { SourceStateDoc } from '../domain/types.js'
import type { MountedScoringPlugin } from '../domain/scoring/pipeline.js'
import { registerPluginVocabulary } from '../domain/scoring/plugin-vocabulary.js'
import { LS_ERR_PLUGIN_INVALID } from '../errors.js'
import type { Core } from '../domain/core.js'
import { newId } from '../lib/ids.js'
import { createContextFactory } from './context.js'
import { mountSourcePlugin, type DeliveryHost } from './http.js'
import type { SecretBox } from '../lib/secret-box.js'
import { createInstanceService, type InstanceChange } from './instances.js'
import { createPoller } from './poller.js'
import { createBatchReaders } from './batch.js'
import type { PluginRegistry } from './registry.js'
import { createSourceStats, rejectedEvents } from './stats.js'

interface HostLogger {
  info(o: object, m?: string): void
  warn(o: object, m?: string): void
  error(o: object, m?: string): void
  debug(o: object, m?: string): void
  child(bindings: Record<string, unknown>): HostLogger
}

/**
 * The plugin host for sources: run-time instances (validated against their plugin's manifest), per-instance
 * contexts, HTTP delivery routes, pollers and counters. Plugins reach the product only through what this passes
 * them: a context, and the events they return, which go through the core's ingest like every other event.
 */
export function createSourceHost (deps: { core: Core; registry: PluginRegistry; log: HostLogger; secrets: SecretBox }) {
  const { core, registry } = deps
  const { c, now } = core
  const processId = newId('proc')
  const contexts = createContextFactory({ state: c.sourceState, log: deps.log, now })
  const stats = createSourceStats(c.sourceStats, processId, now)
  let poller: ReturnType<typeof createPoller> | null = null
  const onChange = (change: InstanceChange): void => {
    if (change.kind === 'deleted') {
      contexts.abort(change.id, 'the source was deleted')
      stats.forget(change.id)
    } else if (!change.doc.enabled) {
      contexts.abort(change.doc._id, 'the source was disabled')
    }
    poller?.onChange(change)
  }
  const instances = createInstanceService({ c, audit: core.audit, registry, now, onChange, secrets: deps.secrets, allowPrivateHosts: core.config.webhooks.allowPrivate })
  poller = createPoller({ c, instances, contexts, locks: core.locks, ingest: core.ingest, stats, now, log: deps.log, processId, useJobs: core.jobs.useSourcePoll })
  // uploads are read by the installed sources' batch parsers (first-party: @leadscore/plugin-source-upload)
  core.uploads.useReaders(createBatchReaders(registry, contexts))

  const delivery: DeliveryHost = {
    async resolve (id, type) {
      const doc = await c.pluginInstances.findOne({ _id: id })
      if (doc === null || doc.type !== type) return null
      const plugin = instances.pluginOf(doc.type)
      const at = now()
      const ctx = contexts.context({ instanceId: id, pluginId: type, config: instances.effectiveConfig(plugin, doc, at), secrets: (n) => instances.secretValues(doc, n, now()) })
      return { enabled: doc.enabled, ctx }
    },
    ingest: async (events, meta) => await core.ingest.ingest(events, meta),
    async rejectInputs (r) {
      if (r.rejects.length === 0) return
      await c.ingestRejects.insertMany(r.rejects.map((x) => ({
        _id: newId('rj'), sourceId: r.sourceId, requestId: r.requestId, index: x.index, code: x.code, reason: x.reason, raw: x.raw, rawTruncated: x.rawTruncated, receivedAt: r.receivedAt,
      })))
      await core.views.rejectsStored(r.rejects.length)
    },
    async rejectDelivery (r) {
      if (r.store !== false) {
        await c.ingestRejects.insertOne({ _id: newId('rj'), sourceId: r.sourceId, requestId: r.requestId, index: 0, code: r.code, reason: r.reason, raw: r.raw, rawTruncated: false, receivedAt: r.receivedAt })
        await core.views.rejectsStored(1)
      }
      core.metrics.ingestEvents.inc(1, { source: 'plugin', outcome: 'rejected' })
      await stats.record(r.sourceId, {
        deliveries: 1, rejectedDeliveries: 1, rejected: 1, at: r.receivedAt, lastError: { at: r.receivedAt, code: r.code, message: r.reason },
        recent: [{ at: r.receivedAt, kind: 'delivery', code: r.code, message: r.reason, requestId: r.requestId, index: null }],
      })
    },
    async delivered (sourceId, s, at, requestId) {
      core.metrics.ingestEvents.inc(s.accepted, { source: 'plugin', outcome: 'accepted' })
      core.metrics.ingestEvents.inc(s.duplicates, { source: 'plugin', outcome: 'duplicate' })
      core.metrics.ingestEvents.inc(s.rejected, { source: 'plugin', outcome: 'rejected' })
      const firstReject = s.results.find((r) => r.status === 'rejected')
      await stats.record(sourceId, {
        deliveries: 1, accepted: s.accepted, duplicates: s.duplicates, rejected: s.rejected, at,
        ...(firstReject?.error !== undefined ? { lastError: { at, code: firstReject.error.code, message: firstReject.error.message } } : {}),
        recent: rejectedEvents(s.results, at, requestId),
      })
    },
    async failed (sourceId, code, message, at, requestId) {
      await stats.record(sourceId, { at, lastError: { at, code, message }, recent: [{ at, kind: 'failure', code, message, requestId, index: null }] })
    },
    now,
    bodyLimit: core.config.limits.bodyLimit,
  }

  return {
    registry,
    instances,
    contexts,
    stats,
    poller,
    delivery,
    /** Boot check of every stored instance (throws LS_ERR_PLUGIN_INVALID). */
    async check (): Promise<void> { await instances.checkAll() },
    /** Mounts every source plugin's routes, each plugin in its own scope. */
    async mount (app: FastifyInstance): Promise<void> {
      for (const plugin of registry.sources.values()) await mountSourcePlugin(app, plugin, delivery)
    },
    async start (): Promise<void> { await poller!.start() },
    /** Stops polling, aborts every instance's signal and writes the counters. */
    async close (): Promise<void> {
      contexts.abortAll()
      await poller!.stop()
      await stats.flush().catch((err: unknown) => deps.log.warn({ err }, 'could not write source counters'))
    },
  }
}

export type SourceHost = ReturnType<typeof createSourceHost>

/**
 * Gives each scoring plugin its context and adds its facts and operators to the rules language. A scoring plugin
 * runs as one instance whose config is its schema's defaults; a plugin whose defaults do not satisfy its own schema,
 * or whose facts or operators are malformed, fails the boot.
 */
export function mountScoringPlugins (plugins: readonly ScoringPlugin[], deps: { state: Collection<SourceStateDoc>; log: HostLogger; now: () => Date }): MountedScoringPlugin[] {
  const contexts = createContextFactory(deps)
  return plugins.map((plugin) => {
    const config = Value.Default(plugin.manifest.config, {}) as unknown
    if (!Value.Check(plugin.manifest.config, config)) {
      const why = [...Value.Errors(plugin.manifest.config, config)].slice(0, 5).map((e) => `${e.path || '(root)'}: ${e.message}`).join('; ')
      throw new LS_ERR_PLUGIN_INVALID(plugin.manifest.id, `its config defaults do not satisfy its config schema: ${why}`)
    }
    // its facts and operators join the rules language before any ruleset is loaded
    const vocabulary = registerPluginVocabulary(plugin)
    if (vocabulary !== null) throw new LS_ERR_PLUGIN_INVALID(plugin.manifest.id, vocabulary)
    return { plugin, ctx: contexts.context({ instanceId: `scoring:${plugin.manifest.id}`, pluginId: plugin.manifest.id, config, secrets: () => [] }) }
  })
}
export { createRegistry, importPlugins, parseDuration } from './registry.js'
export { mountSourcePlugin, type DeliveryHost } from './http.js'
export type { PluginRegistry } from './registry.js'
