import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses, IdParams } from '../schemas/common.js'
import { PollResult, Source, SourceCreate, SourceCreated, SourceErrors, SourcePatch, RotateSecret, RotatedSecret, SourceType } from '../schemas/sources.js'
import type { PluginInstanceDoc } from '../domain/types.js'
import type { SourcePlugin } from '../contracts/index.js'
import type { SourceStats } from '../plugin-host/stats.js'
import { activeVersions } from '../plugin-host/instances.js'
import { LS_ERR_SOURCE_NOT_POLLED } from '../errors.js'

const iso = (d: Date | null | undefined): string | null => d == null ? null : d.toISOString()

function endpointsOf (plugin: SourcePlugin | undefined, id: string) {
  return (plugin?.http?.routes ?? []).map((r) => ({ method: r.method, url: `/v1/sources/${id}${r.url}`, summary: r.summary ?? '' }))
}

/** Run-time configured sources: instances of installed source plugins (read scope sees them, admins change them). */
const sourcesRoutes: FastifyPluginAsyncTypebox = async function sourcesRoutes (app) {
  const host = app.sources
  const { instances } = host
  const { core } = app
  const conflict = { 409: Type.Ref('ProblemDetails'), 422: Type.Ref('ProblemDetails') }

  function statsOut (s: SourceStats) {
    return {
      deliveries: s.deliveries, rejectedDeliveries: s.rejectedDeliveries, accepted: s.accepted, duplicates: s.duplicates, rejected: s.rejected,
      lastDeliveryAt: iso(s.lastDeliveryAt), lastEventAt: iso(s.lastEventAt),
      lastError: s.lastError === null ? null : { at: s.lastError.at.toISOString(), code: s.lastError.code, message: s.lastError.message },
      lastPoll: s.lastPoll === null
        ? null
        : {
            at: s.lastPoll.at.toISOString(), status: s.lastPoll.status, events: s.lastPoll.events, nextAt: iso(s.lastPoll.nextAt),
            error: s.lastPoll.error === null ? null : { at: s.lastPoll.error.at.toISOString(), code: s.lastPoll.error.code, message: s.lastPoll.error.message },
          },
    }
  }

  function secretsOut (doc: PluginInstanceDoc) {
    const at = core.now()
    return Object.keys(doc.secrets).map((name) => ({
      name, versions: activeVersions(doc.secrets[name], at).map((v) => ({ id: v.id, createdAt: v.createdAt.toISOString(), expiresAt: iso(v.expiresAt) })),
    }))
  }

  async function sourceOut (doc: PluginInstanceDoc) {
    const plugin = host.registry.sources.get(doc.type)
    return {
      id: doc._id, type: doc.type, name: doc.name, enabled: doc.enabled, config: instances.publicConfig(plugin, doc), secrets: secretsOut(doc),
      endpoints: endpointsOf(plugin, doc._id), polls: plugin?.poll !== undefined, rev: doc.rev, createdBy: doc.createdBy,
      createdAt: doc.createdAt.toISOString(), updatedAt: doc.updatedAt.toISOString(), stats: statsOut(await host.stats.get(doc._id)),
    }
  }

  app.get('/v1/source-types', {
    config: { scope: 'read' },
    schema: { tags: ['sources'], summary: 'Installed source plugins, with the JSON Schema of their config', response: { 200: Type.Object({ items: Type.Array(SourceType) }), ...problemResponses } },
  }, async () => ({
    items: [...host.registry.sources.values()].map((p) => ({
      id: p.manifest.id, version: p.manifest.version, contract: p.manifest.contract, secrets: [...(p.manifest.secrets ?? [])],
      suppliedSecrets: (p.manifest.secrets ?? []).filter((name) => p.generateSecret !== undefined && p.generateSecret(name) === null),
      configSchema: JSON.parse(JSON.stringify(p.manifest.config)) as unknown, endpoints: endpointsOf(p, '{id}'),
      polls: p.poll === undefined ? null : typeof p.poll.every === 'string' ? p.poll.every : 'per instance',
      batch: [...(p.batch?.accepts ?? [])],
    })),
  }))

  app.post('/v1/sources', {
    config: { scope: 'admin' },
    schema: {
      tags: ['sources'], summary: 'Create a source; its secrets are in this response and never again',
      body: SourceCreate, response: { 201: SourceCreated, ...conflict, ...problemResponses },
    },
  }, async (req, reply) => {
    const { doc, secrets } = await instances.create(req.body, req.principal!.name)
    return reply.code(201).header('cache-control', 'no-store').send({ ...await sourceOut(doc), secretValues: secrets })
  })

  app.get('/v1/sources', {
    config: { scope: 'read' },
    schema: { tags: ['sources'], summary: 'Sources with their counters (never their secrets)', response: { 200: Type.Object({ items: Type.Array(Source) }), ...problemResponses } },
  }, async () => ({ items: await Promise.all((await instances.list()).map(sourceOut)) }))

  app.get('/v1/sources/:id', {
    config: { scope: 'read' },
    schema: { tags: ['sources'], summary: 'One source with its counters', params: IdParams, response: { 200: Source, ...problemResponses } },
  }, async (req) => await sourceOut(await instances.get(req.params.id)))

  app.get('/v1/sources/:id/errors', {
    config: { scope: 'read' },
    schema: {
      tags: ['sources'], summary: 'Recent problems of a source: refused deliveries, rejected events, failures and failed polls, newest first',
      params: IdParams, response: { 200: SourceErrors, ...problemResponses },
    },
  }, async (req) => {
    const doc = await instances.get(req.params.id)
    const s = await host.stats.get(doc._id)
    return { items: s.recent.map((e) => ({ at: e.at.toISOString(), kind: e.kind, code: e.code, message: e.message, requestId: e.requestId, index: e.index })) }
  })

  app.patch('/v1/sources/:id', {
    config: { scope: 'admin' },
    schema: {
      tags: ['sources'], summary: 'Rename, enable or disable a source, or change its config (validated again)',
      params: IdParams, body: SourcePatch, response: { 200: Source, ...conflict, ...problemResponses },
    },
  }, async (req) => await sourceOut(await instances.update(req.params.id, req.body, req.principal!.name)))

  app.delete('/v1/sources/:id', {
    config: { scope: 'admin' },
    schema: { tags: ['sources'], summary: 'Delete a source (its stored events stay)', params: IdParams, response: { 204: Type.Null(), ...problemResponses } },
  }, async (req, reply) => {
    await instances.remove(req.params.id, req.principal!.name)
    return reply.code(204).send(null)
  })

  app.post('/v1/sources/:id/rotate-secret', {
    config: { scope: 'admin' },
    schema: {
      tags: ['sources'], summary: 'Replace a secret; the previous value keeps working for the overlap period. The new value is shown once.',
      params: IdParams, body: RotateSecret, response: { 200: RotatedSecret, ...conflict, ...problemResponses },
    },
  }, async (req, reply) => {
    const r = await instances.rotateSecret(req.params.id, req.body, req.principal!.name)
    return reply.header('cache-control', 'no-store').send({ id: r.doc._id, name: r.name, value: r.value, previousExpiresAt: iso(r.previousExpiresAt), secrets: secretsOut(r.doc) })
  })

  app.post('/v1/sources/:id/poll', {
    config: { scope: 'admin' },
    schema: {
      tags: ['sources'], summary: 'Poll a pull source now (also re-arms one whose polling failed)',
      params: IdParams,
      response: { 200: PollResult, ...conflict, ...problemResponses },
    },
  }, async (req) => {
    const doc = await instances.get(req.params.id)
    if (host.registry.sources.get(doc.type)?.poll === undefined) throw new LS_ERR_SOURCE_NOT_POLLED(doc._id, doc.type)
    const r = await host.poller.pollNow(doc._id)
    return { status: r.status, events: r.events, pages: r.pages, ...(r.error !== undefined ? { error: { at: r.error.at.toISOString(), code: r.error.code, message: r.error.message } } : {}) }
  })
}

export default sourcesRoutes
