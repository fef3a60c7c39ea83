import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problemResponses } from '../schemas/common.js'
import { Ruleset, RulesetReplace } from '../schemas/rulesets.js'
import type { RulesetDoc } from '../domain/types.js'
import { newId } from '../lib/ids.js'

const out = (r: RulesetDoc) => ({
  version: r.version, name: r.name, status: r.status, rules: r.rules as unknown as Record<string, unknown>[], settings: r.settings, author: r.author,
  note: r.note, createdAt: r.createdAt.toISOString(), publishedAt: r.publishedAt?.toISOString() ?? null,
})

const rulesetsRoutes: FastifyPluginAsyncTypebox = async function rulesetsRoutes (app) {
  app.addSchema(Ruleset)
  const { core } = app

  app.get('/v1/rulesets', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'All ruleset versions, newest first', response: { 200: Type.Object({ items: Type.Array(Type.Ref('Ruleset')) }), ...problemResponses } },
  }, async () => ({ items: (await core.rulesets.list()).map(out) }))

  app.get('/v1/rulesets/active', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'The published ruleset (json-rules-engine rules + settings)', response: { 200: Type.Ref('Ruleset'), ...problemResponses } },
  }, async () => out(await core.rulesets.get((await core.rulesets.active()).version)))

  app.get('/v1/rulesets/:version', {
    config: { scope: 'read' },
    schema: { tags: ['rulesets'], summary: 'One ruleset version', params: Type.Object({ version: Type.Integer({ minimum: 1 }) }), response: { 200: Type.Ref('Ruleset'), ...problemResponses } },
  }, async (req) => out(await core.rulesets.get(req.params.version)))

  app.put('/v1/rulesets/active', {
    config: { scope: 'rules' },
    schema: {
      tags: ['rulesets'],
      summary: 'Replace the published ruleset with a new version (validated; existing scores change only on re-score)',
      body: RulesetReplace,
      response: { 201: Type.Ref('Ruleset'), ...problemResponses },
    },
  }, async (req, reply) => {
    const doc = await core.rulesets.replace(req.body, req.principal!.name)
    await core.c.auditLog.insertOne({ _id: newId('au'), at: core.now(), actor: req.principal!.name, action: 'ruleset.publish', target: `ruleset:${doc.version}`, details: { note: doc.note } })
    await core.live.append('ruleset.published', ['rulesets'], { version: doc.version })
    return reply.code(201).send(out(doc))
  })
}

export default rulesetsRoutes
